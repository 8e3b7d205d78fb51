"""The scorer losses as pure functions of tensors: eq. 3.4 for one map, eq. 3.5 for one map per modality."""

from .joint_loss import JointScorerLossOutput, joint_scorer_loss
from .loss import ScorerLossOutput, calibration_weight, map_terms, masked_mean, scorer_loss, task_losses

__all__ = [
    "JointScorerLossOutput",
    "ScorerLossOutput",
    "calibration_weight",
    "joint_scorer_loss",
    "map_terms",
    "masked_mean",
    "scorer_loss",
    "task_losses",
]
