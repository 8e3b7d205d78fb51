"""The two training phases as functions, shared by the recipes, the CLI, the demo, the benchmarks and the tests.

Phase 1 fine-tunes the classifier (with masking augmentation by default); phase 2 trains its scorer.
Both are thin: they build a Trainer, run it and report its metrics, so everything the Trainer
offers (accelerate launch, bf16, gradient accumulation, resuming) works unchanged.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers import EvalPrediction, Trainer, TrainingArguments

from ..configuration import ScorerConfig
from ..errors import ConfigError
from ..modeling import AutoModelWithScorer
from .augmentation import masking_augmentation
from .trainer import ScorerTrainer

#: settings of a short local run (the demo, examples, tests, benchmarks): no checkpoints, no experiment trackers
LOCAL_RUN = {"per_device_train_batch_size": 32, "save_strategy": "no", "report_to": "none"}


def training_arguments(output_dir: str | Path, **settings: Any) -> TrainingArguments:
    """TrainingArguments for ``output_dir``; without a GPU ``use_cpu`` (unless ``settings`` say otherwise), so that
    processes launched with ``accelerate launch`` form a gloo process group (accelerate runs CPU data parallelism only
    this way). Settings TrainingArguments refuses are a :class:`ConfigError`."""
    try:
        return TrainingArguments(str(output_dir), **{"use_cpu": not torch.cuda.is_available(), **settings})
    except (ValueError, TypeError) as error:
        raise ConfigError(f"TrainingArguments refuse these settings: {error}") from error


def accuracy(prediction: EvalPrediction) -> dict[str, float]:
    """Share of samples whose argmax logit is the label."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == prediction.label_ids))}


def fine_tune_classifier(
    classifier: nn.Module,
    processor: Any,
    args: TrainingArguments,
    train_dataset: Dataset,
    eval_dataset: Dataset | None = None,
    *,
    mask_probability: float = 0.5,
    special_token_ids: list[int] | None = None,
    resume_from_checkpoint: str | bool | None = None,
) -> Trainer:
    """Phase 1: fine-tune ``classifier`` on preprocessed data; returns the trainer (its metric is accuracy).

    With ``mask_probability > 0`` that share of the training samples is randomly masked in the
    scorer's masking space (see :func:`masking_augmentation`); 0 fine-tunes plainly. Tokens in
    ``special_token_ids`` (default: the tokenizer ``processor``'s special tokens) are never masked.
    A tokenizer ``processor`` also pads each batch (``Trainer``'s own collator for its ``processing_class``).

    The logged loss is the per-sample cross-entropy: a classification loss is a mean over the batch,
    which data-parallel training already averages over processes, so transformers' token averaging across devices
    (meant for language-model losses, ``average_tokens_across_devices``) is switched off here; with it, the logged
    loss of N processes would be N times the cross-entropy.
    """
    special = list(special_token_ids or getattr(processor, "all_special_ids", []) or [])
    augmentation = (
        masking_augmentation(classifier, probability=mask_probability, special_token_ids=special, seed=args.seed)
        if mask_probability > 0
        else contextlib.nullcontext()
    )
    trainer = Trainer(
        model=classifier,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        compute_metrics=accuracy,
    )
    trainer.model_accepts_loss_kwargs = False  # the true per-sample cross-entropy under DDP (see the docstring)
    with augmentation:
        trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    classifier.eval()
    return trainer


def train_scorer(
    classifier: nn.Module,
    processor: Any,
    config: ScorerConfig,
    args: TrainingArguments,
    train_dataset: Dataset,
    eval_dataset: Dataset | None = None,
    *,
    resume_from_checkpoint: str | bool | None = None,
) -> ScorerTrainer:
    """Phase 2: attach a scorer to the (frozen) classifier and train it; the model is ``trainer.model``."""
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=processor)
    trainer = ScorerTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset)
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    model.eval()
    return trainer
