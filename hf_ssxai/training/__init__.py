"""The scorer loss (a pure function) and ScorerTrainer."""

from .augmentation import masking_augmentation
from .joint_loss import JointScorerLossOutput, joint_scorer_loss
from .loss import ScorerLossOutput, calibration_weight, masked_mean, scorer_loss, task_losses
from .trainer import ScorerTrainer, masked_prediction_metrics

__all__ = [
    "JointScorerLossOutput",
    "ScorerLossOutput",
    "ScorerTrainer",
    "calibration_weight",
    "joint_scorer_loss",
    "masked_mean",
    "masking_augmentation",
    "masked_prediction_metrics",
    "scorer_loss",
    "task_losses",
]
