"""Training: ScorerTrainer, masking augmentation, the two phases and the recipes.

The losses live in :mod:`hf_ssxai.losses` (re-exported here).
"""

from ..losses import (
    JointScorerLossOutput,
    ScorerLossOutput,
    calibration_weight,
    joint_scorer_loss,
    masked_mean,
    scorer_loss,
    task_losses,
)
from .arguments import ScorerTrainingArguments
from .augmentation import masking_augmentation
from .trainer import ScorerTrainer, masked_prediction_metrics

__all__ = [
    "JointScorerLossOutput",
    "ScorerLossOutput",
    "ScorerTrainer",
    "ScorerTrainingArguments",
    "calibration_weight",
    "joint_scorer_loss",
    "masked_mean",
    "masking_augmentation",
    "masked_prediction_metrics",
    "scorer_loss",
    "task_losses",
]
