"""The scorer losses as pure functions of tensors: eq. 3.4 for one map, eq. 3.5 for one map per modality, and the
order terms (hard top-q deletion and insertion)."""

from .joint_loss import JointScorerLossOutput, joint_scorer_loss
from .loss import (
    ScorerLossOutput,
    calibration_weight,
    map_terms,
    masked_mean,
    scorer_loss,
    sharpening_factor,
    task_losses,
)
from .ranking_loss import order_terms, ranking_losses, top_fraction_masks

__all__ = [
    "JointScorerLossOutput",
    "ScorerLossOutput",
    "calibration_weight",
    "joint_scorer_loss",
    "map_terms",
    "masked_mean",
    "order_terms",
    "ranking_losses",
    "scorer_loss",
    "sharpening_factor",
    "task_losses",
    "top_fraction_masks",
]
