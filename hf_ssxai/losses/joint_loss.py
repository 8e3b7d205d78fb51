"""The joint scorer loss of a multimodal classifier (the thesis' eq. 3.5), as a pure function of tensors.

With one map S_m per modality m (text and image) and the input masked by every map, x * S, or by one map alone,
x * S_m (the other modalities whole):

    L     = task(x * S) + sum_m task(x * S_m) + gamma * sum_m [mean(S_m)^2 + mean((S_m * (1 - S_m))^2)]
    delta = task(x * S) - task(x)
    gamma = min(1, 1 / max(delta, 0))          (as in eq. 3.4: 1 when delta <= 1, 1/delta above; no gradient)

Each map must keep the prediction on its own (the alone terms) and together with the others (the joint term),
so neither modality can leave all the evidence to the other. Means run over each modality's valid features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..errors import InvalidInputError
from ..modalities.base import ALL_MASKED
from .loss import ScorerLossOutput, _check_loss_inputs, calibration_weight, map_terms, task_losses


@dataclass
class JointScorerLossOutput(ScorerLossOutput):
    """The batch loss, its per-sample joint terms, and each modality's own terms.

    ``task_loss``, ``delta`` and ``gamma`` are those of the input with every modality masked;
    ``magnitude_penalty`` and ``binary_penalty`` sum over the modalities; ``mean_score`` and ``binariness``
    average the modalities' own values (each modality weighs the same, whatever its feature count).
    ``modality_terms[m]`` holds modality m's task loss and delta with m masked alone, and its map's penalties.
    """

    modality_terms: dict[str, ScorerLossOutput] | None = None


def joint_scorer_loss(
    masked_logits: Mapping[str, torch.Tensor],
    full_logits: torch.Tensor,
    scores: Mapping[str, torch.Tensor],
    feature_mask: Mapping[str, torch.Tensor],
    labels: torch.Tensor | None = None,
    *,
    use_magnitude_penalty: bool = True,
    use_binary_penalty: bool = True,
    use_gamma: bool = True,
    target: str = "label",
) -> JointScorerLossOutput:
    """Eq. 3.5 per sample, averaged over the batch.

    Args:
        masked_logits: logits with every map applied (key ``"all"``) and with each modality's map alone (key: the
            modality's name, as in ``scores``); all carry the gradient.
        full_logits: the classifier's logits on the full input.
        scores: one map per modality, ``[batch, *features]`` each.
        feature_mask: which features are valid, per modality (same shapes as ``scores``).
        labels, target, use_*: as in :func:`~hf_ssxai.losses.scorer_loss`.
    """
    if set(scores) != set(feature_mask) or set(masked_logits) != {ALL_MASKED, *scores}:
        raise InvalidInputError(
            f"joint_scorer_loss needs one map and one feature mask per modality, and masked logits for "
            f"'{ALL_MASKED}' and each modality; got maps {sorted(scores)}, masks {sorted(feature_mask)}, "
            f"logits {sorted(masked_logits)}."
        )
    for name in scores:
        for logits in (masked_logits[name], masked_logits[ALL_MASKED]):
            _check_loss_inputs(logits, full_logits, scores[name], feature_mask[name])

    task_full = task_losses(full_logits, full_logits, labels, target).detach()
    task_all = task_losses(masked_logits[ALL_MASKED], full_logits, labels, target)
    delta = task_all.detach() - task_full
    gamma = calibration_weight(delta) if use_gamma else torch.ones_like(delta)

    loss = task_all
    modality_terms = {}
    for name in scores:
        task_alone = task_losses(masked_logits[name], full_logits, labels, target)
        terms = map_terms(scores[name], feature_mask[name], use_magnitude_penalty, use_binary_penalty)
        loss = loss + task_alone + gamma * terms.loss
        modality_terms[name] = ScorerLossOutput(
            task_loss=task_alone.detach(),
            delta=task_alone.detach() - task_full,
            gamma=gamma,
            magnitude_penalty=terms.magnitude_penalty,
            binary_penalty=terms.binary_penalty,
            mean_score=terms.mean_score,
            binariness=terms.binariness,
        )
    parts = modality_terms.values()
    return JointScorerLossOutput(
        loss=loss.mean(),
        task_loss=task_all.detach(),
        delta=delta,
        gamma=gamma,
        magnitude_penalty=sum(t.magnitude_penalty for t in parts),
        binary_penalty=sum(t.binary_penalty for t in parts),
        mean_score=torch.stack([t.mean_score for t in parts]).mean(dim=0),
        binariness=torch.stack([t.binariness for t in parts]).mean(dim=0),
        modality_terms=modality_terms,
    )
