"""Training the order inside a map: hard top-q masks at random keep fractions, with a straight-through gradient.

Eq. 3.4 trains the map's *values*: the input weighted by S must keep the prediction while S stays small. Deletion
and insertion, which the benchmark measures, read only the map's *order*: remove (or keep) the top q of the
features and see what the classifier says. Nothing in eq. 3.4 trains that order, and on images our maps were soft
plateaus whose inside order was arbitrary. These terms train it directly (the learn-to-rank idea of attribution
training; the destruction term is the complement objective of real-time saliency, Dabkowski & Gal 2017, and AML,
Barkan et al. 2024, applied to hard top-q masks):

    m_q       = 1 on the top q of the valid features by score, 0 elsewhere   (q drawn per sample)
    deletion  = p_c(x * (1 - m_q))         removing the top q must lose the class c
    insertion = 1 - p_c(x * m_q)           keeping only the top q must keep it
    contrast  = 1 - p_c(x * (1 - m'_q))    with m'_q another sample's top q: removing it must not lose c

With q uniform, the deletion term's expectation is the deletion AUC that the benchmark measures (the mean of p_c
along the deletion curve), and the insertion term's is one minus the insertion AUC: the terms train the metrics
themselves. The contrast term makes a map of one fixed shape, which fits every input, pay (docs/training.md). An
earlier log form, -log(1 - p_c), kept rewarding features whose removal pushes p_c *below* chance;
it raised decoy features level with the evidence and cost planted-evidence hit rate (docs/training.md).

The forward sees exactly the hard mask the metrics apply; the gradient reaches the scores straight through
(``m_q + S - stop_gradient(S)``), so every feature learns whether removing it costs the class. Pure functions of
tensors, like :mod:`hf_ssxai.losses.loss`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.nn import functional as F

#: keep fractions are drawn uniformly from this range (the deletion curve's inner points lie inside it)
FRACTION_RANGE = (0.05, 0.95)


def draw_fractions(batch: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
    """One keep fraction per sample, uniform in :data:`FRACTION_RANGE`."""
    low, high = FRACTION_RANGE
    return low + (high - low) * torch.rand(batch, device=device, generator=generator)


def top_fraction_masks(scores: torch.Tensor, feature_mask: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Hard masks keeping each sample's top ``fractions`` of its valid features, with an order-only gradient.

    Ties are broken at random (a map has many exact zeros), features that are not valid are 0. At least one
    feature is kept and at least one removed whenever a sample has two valid features.

    The gradient reaches the scores straight through, centred over each sample's valid features: a term built on
    these masks moves features up or down *relative to each other* and leaves the map's mean, which eq. 3.4's
    penalties govern, alone. (Uncentred, the deletion term pushed every supporting feature up at once and the maps
    grew to nearly uniform: docs/training.md.)
    """
    flat = scores.flatten(1).float()
    mask = feature_mask.flatten(1)
    tie_break = torch.rand_like(flat) * 1e-6
    keys = torch.where(mask, flat.detach() + tie_break, torch.full_like(flat, -torch.inf))
    ranks = keys.argsort(dim=1, descending=True).argsort(dim=1)
    valid = mask.sum(dim=1)
    count = (fractions * valid).round().clamp(min=1).minimum((valid - 1).clamp(min=1)).unsqueeze(1)
    hard = ((ranks < count) & mask).to(flat.dtype)
    weights = mask.to(flat.dtype)
    centred = (
        flat - (flat * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp(min=1)
    ) * weights
    return (hard + (centred - centred.detach())).view_as(scores).to(scores.dtype)


def class_probabilities(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``p_c`` per sample: the softmax probability of each sample's class."""
    return F.softmax(logits.float(), dim=-1).gather(1, classes.view(-1, 1)).squeeze(1)


def ranking_losses(
    masked_logits: Callable[[torch.Tensor], torch.Tensor],
    scores: torch.Tensor,
    feature_mask: torch.Tensor,
    classes: torch.Tensor,
    *,
    deletion_weight: float,
    insertion_weight: float,
    contrast_weight: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample ``(weighted sum, deletion term, insertion term)`` at one random keep fraction per sample.

    ``masked_logits(keep)`` runs the classifier on the input weighted by ``keep`` (a map of ``scores``' shape);
    ``classes`` is the class each sample must lose (deletion) and keep (insertion). The two terms are returned
    detached for logging; a term whose weight is 0 costs no forward and is reported as 0.
    """
    fractions = draw_fractions(scores.shape[0], scores.device, generator)
    masks = top_fraction_masks(scores, feature_mask, fractions)
    zero = torch.zeros(scores.shape[0], device=scores.device)
    deletion = insertion = zero
    if deletion_weight:
        deletion = class_probabilities(masked_logits(1 - masks), classes)
    if insertion_weight:
        insertion = 1 - class_probabilities(masked_logits(masks), classes)
    total = deletion_weight * deletion + insertion_weight * insertion
    if contrast_weight and scores.shape[0] > 1:
        # another sample's map, its top q removed from this input, must not lose this input's class
        others = top_fraction_masks(scores.roll(1, dims=0), feature_mask, fractions)
        total = total + contrast_weight * (1 - class_probabilities(masked_logits(1 - others), classes))
    return total, deletion.detach(), insertion.detach()


def order_terms(
    logits_keeping: Callable[[Any], torch.Tensor],
    attributions: torch.Tensor | Mapping[str, torch.Tensor],
    feature_mask: torch.Tensor | Mapping[str, torch.Tensor],
    classes: torch.Tensor,
    *,
    deletion_weight: float,
    insertion_weight: float,
    contrast_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`ranking_losses` of a model's map, or summed over its maps when it has one per modality (each map's
    top q removed or kept with the other modalities whole, as the per-modality metrics measure).

    ``logits_keeping(keep)`` runs the classifier on the input weighted by ``keep`` (one map, or one per modality).
    """
    if not isinstance(attributions, Mapping):
        return ranking_losses(
            logits_keeping,
            attributions,
            feature_mask,
            classes,
            deletion_weight=deletion_weight,
            insertion_weight=insertion_weight,
            contrast_weight=contrast_weight,
        )
    whole = {name: torch.ones_like(mask, dtype=torch.float) for name, mask in feature_mask.items()}
    sums = [0, 0, 0]
    for name, scores in attributions.items():
        terms = ranking_losses(
            lambda keep, name=name: logits_keeping({**whole, name: keep}),
            scores,
            feature_mask[name],
            classes,
            deletion_weight=deletion_weight,
            insertion_weight=insertion_weight,
            contrast_weight=contrast_weight,
        )
        sums = [total + term for total, term in zip(sums, terms, strict=True)]
    return tuple(sums)
