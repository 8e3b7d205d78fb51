"""The scorer loss (the thesis' eq. 3.4), as a pure function of tensors.

    L = task(x * S) + gamma * mean(S)^2 + gamma * mean((S * (1 - S))^2)
    delta = task(x * S) - task(x)
    gamma = min(1, 1 / max(delta, 0))      (1 when delta <= 1, 1/delta above; no gradient)

Means run over each sample's valid features only. While masking hurts the task (large delta)
the penalties step back; once the masked input is nearly as good as the full one they weigh fully.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers.utils import ModelOutput

from ..errors import InvalidInputError, NonFiniteLossError


@dataclass
class ScorerLossOutput(ModelOutput):
    """The batch loss and its per-sample terms (all terms are detached except ``loss``)."""

    loss: torch.Tensor | None = None
    task_loss: torch.Tensor | None = None
    delta: torch.Tensor | None = None
    gamma: torch.Tensor | None = None
    magnitude_penalty: torch.Tensor | None = None
    binary_penalty: torch.Tensor | None = None
    mean_score: torch.Tensor | None = None
    binariness: torch.Tensor | None = None
    deletion_loss: torch.Tensor | None = None
    insertion_loss: torch.Tensor | None = None


def calibration_weight(delta: torch.Tensor) -> torch.Tensor:
    """gamma = min(1, 1 / max(delta, 0)): 1 for delta <= 1, 1/delta above. Carries no gradient."""
    delta = delta.detach()
    return torch.where(delta > 1, 1.0 / delta.clamp(min=1.0), torch.ones_like(delta))


#: the most a sample's logits are ever sharpened by :func:`sharpening_factor`
MAX_SHARPENING = 100.0


def sharpening_factor(full_logits: torch.Tensor, confidence_floor: float) -> torch.Tensor | None:
    """Per-sample factor ``k >= 1`` (``[batch, 1]``, no gradient) that lifts the full input's top probability to
    about ``confidence_floor`` when it is lower; None when the floor is off (0).

    The task term of eq. 3.4 is on the scale of the classifier's logits. An under-confident classifier (right, but
    at probabilities near 0.55) changes its loss by a few hundredths whatever is masked, so the penalties, whose
    scale is fixed, win: the map shrinks onto whatever token the scorer started with. Multiplying the full and the
    masked logits of a sample by the same k (a temperature, so no prediction changes) restores the balance that a
    confident classifier has. Samples already at the floor keep k = 1.
    """
    if not confidence_floor:
        return None
    log_p = torch.log_softmax(full_logits.detach().float(), dim=-1)
    top = log_p.max(dim=-1).values
    margin = top - torch.log1p(-top.exp().clamp(max=1 - 1e-7))  # log(p / (1 - p)) of the top class
    wanted = math.log(confidence_floor / (1 - confidence_floor))
    return (wanted / margin.clamp(min=1e-6)).clamp(min=1.0, max=MAX_SHARPENING).unsqueeze(-1)


def masked_mean(values: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Per-sample mean over valid features; a sample without valid features gives 0."""
    mask = feature_mask.flatten(1).to(values.dtype)
    return (values.flatten(1) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def task_losses(
    logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor | None, target: str
) -> torch.Tensor:
    """Per-sample task loss of ``logits`` for the chosen target mode.

    ``label``: cross-entropy against ``labels``; ``prediction``: cross-entropy against the argmax
    of ``reference_logits``; ``distribution``: KL(softmax(reference) || softmax(logits)).
    """
    logits = logits.float()
    reference_logits = reference_logits.detach().float()
    if target == "distribution":
        reference = F.log_softmax(reference_logits, dim=-1)
        return F.kl_div(F.log_softmax(logits, dim=-1), reference, log_target=True, reduction="none").sum(dim=-1)
    if target == "prediction":
        labels = reference_logits.argmax(dim=-1)
    elif labels is None:
        raise InvalidInputError(
            "ScorerConfig.target='label' needs labels in the batch. Add a 'labels' column, or use "
            "target='prediction' (the classifier's own prediction) or target='distribution'."
        )
    num_classes = logits.shape[-1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise InvalidInputError(
            f"labels must lie in [0, {num_classes}) for this classifier; got values "
            f"{int(labels.min())}..{int(labels.max())}. Check the dataset's label mapping."
        )
    return F.cross_entropy(logits, labels.long(), reduction="none")


def _check_loss_inputs(
    masked_logits: torch.Tensor, full_logits: torch.Tensor, scores: torch.Tensor, feature_mask: torch.Tensor
) -> None:
    """Shapes that fit together and finite values, so that the loss is never silently NaN."""
    if scores.shape != feature_mask.shape or scores.dim() < 2:
        raise InvalidInputError(
            f"scores {tuple(scores.shape)} and feature_mask {tuple(feature_mask.shape)} must have the same shape "
            "[batch, *features]."
        )
    if masked_logits.shape != full_logits.shape or masked_logits.dim() != 2 or len(masked_logits) != len(scores):
        raise InvalidInputError(
            f"masked_logits {tuple(masked_logits.shape)} and full_logits {tuple(full_logits.shape)} must both be "
            f"[batch, classes] with the batch of scores ({len(scores)})."
        )
    for name, tensor in (("masked_logits", masked_logits), ("full_logits", full_logits), ("scores", scores)):
        if not torch.isfinite(tensor.detach()).all():
            raise NonFiniteLossError(
                f"{name} contain NaN or Inf, so the scorer loss would be NaN. Check the inputs for NaN/Inf, lower "
                "the learning rate, or train in float32 instead of half precision."
            )


def scorer_loss(
    masked_logits: torch.Tensor,
    full_logits: torch.Tensor,
    scores: torch.Tensor,
    feature_mask: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    target: str = "label",
    use_magnitude_penalty: bool = True,
    use_binary_penalty: bool = True,
    use_gamma: bool = True,
) -> ScorerLossOutput:
    """Eq. 3.4 per sample, averaged over the batch.

    Args:
        masked_logits: classifier logits on the masked input ``x * S`` (carries the gradient).
        full_logits: classifier logits on the full input ``x``.
        scores: the scorer's map ``S``, shape ``[batch, *features]``.
        feature_mask: which features are valid (same shape as ``scores``).
        labels: dataset labels; needed for ``target="label"``.
    """
    _check_loss_inputs(masked_logits, full_logits, scores, feature_mask)
    task_masked = task_losses(masked_logits, full_logits, labels, target)
    task_full = task_losses(full_logits, full_logits, labels, target).detach()
    delta = task_masked.detach() - task_full
    gamma = calibration_weight(delta) if use_gamma else torch.ones_like(delta)

    terms = map_terms(scores, feature_mask, use_magnitude_penalty, use_binary_penalty)
    loss = (task_masked + gamma * terms.loss).mean()
    return dataclasses.replace(terms, loss=loss, task_loss=task_masked.detach(), delta=delta, gamma=gamma)


def map_terms(
    scores: torch.Tensor, feature_mask: torch.Tensor, use_magnitude_penalty: bool, use_binary_penalty: bool
) -> ScorerLossOutput:
    """The penalties of one map, per sample: ``loss`` is their switched-on sum (with gradient), the rest detached."""
    scores = scores.float()
    mean_score = masked_mean(scores, feature_mask)
    magnitude = mean_score.pow(2)
    binary = masked_mean((scores * (1 - scores)).pow(2), feature_mask)
    penalty = torch.zeros_like(mean_score)
    if use_magnitude_penalty:
        penalty = penalty + magnitude
    if use_binary_penalty:
        penalty = penalty + binary
    return ScorerLossOutput(
        loss=penalty,
        magnitude_penalty=magnitude.detach(),
        binary_penalty=binary.detach(),
        mean_score=mean_score.detach(),
        binariness=masked_mean((2 * scores - 1).abs(), feature_mask).detach(),
    )
