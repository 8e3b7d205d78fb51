"""ScorerTrainingArguments: ``TrainingArguments`` whose defaults train a scorer (as SetFit gives its own arguments).

A scorer is a small network trained from scratch against a frozen classifier, so it wants a learning rate far above
transformers' fine-tuning default (5e-5, with which its maps stay diffuse). The scorer defaults live here, in one
place: :data:`SCORER_DEFAULTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

#: transformers' default learning rate, meant for fine-tuning pretrained weights (too low for a new scorer)
FINE_TUNING_LEARNING_RATE = TrainingArguments.learning_rate
#: the scorer defaults of :class:`ScorerTrainingArguments`, measured on planted evidence (docs/training.md)
SCORER_DEFAULTS = {"learning_rate": 3e-3, "num_train_epochs": 4.0, "logging_steps": 50}


@dataclass
class ScorerTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with a scorer's defaults (:data:`SCORER_DEFAULTS`); every other field as transformers'.

    Args:
        learning_rate: the scorer's learning rate (transformers' default 5e-5 is for fine-tuning, too low here).
        num_train_epochs: epochs over the training data.
        logging_steps: how often the loss and its terms (task loss, delta, gamma, mean score, binariness) are logged.
    """

    learning_rate: float = field(
        default=SCORER_DEFAULTS["learning_rate"], metadata={"help": "The scorer's initial learning rate."}
    )
    num_train_epochs: float = field(
        default=SCORER_DEFAULTS["num_train_epochs"], metadata={"help": "Total number of training epochs."}
    )
    logging_steps: float = field(
        default=SCORER_DEFAULTS["logging_steps"],
        metadata={"help": "Log the loss and its terms every X update steps (a ratio of all steps if below 1)."},
    )


__all__ = ["FINE_TUNING_LEARNING_RATE", "SCORER_DEFAULTS", "ScorerTrainingArguments"]
