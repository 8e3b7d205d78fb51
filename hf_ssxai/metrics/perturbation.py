"""The batched perturbation engine: every masked forward the faithfulness metrics need, in large batches.

For a batch of inputs and their attribution maps it runs the classifier on

* the full input x, which gives the predicted class c and p(x) (softmax probability of c);
* x * S with S the normalized map (for average drop);
* the deletion curve: the top-ranked valid features removed in equal fractions (``steps`` steps,
  ``steps + 1`` points from 0 % to 100 %); a removed feature takes the masking baseline, i.e. score 0
  in the masking space (zero word embedding, normalized-zero pixel) through ``modality.apply_scores``;
* the insertion curve: the mirror, from everything removed to everything back, top features first.

Each point's y is the probability of the class predicted on the full input. Features are ranked by
:func:`~hf_ssxai.metrics.functional.feature_ranks` (ties broken by seeded keys). Padding and special
tokens are never removed and never counted. The full and the fully removed input are shared by both
curves, so deletion alone costs ``steps + 1`` forwards per sample, and all forwards of all samples go
through the classifier in chunks of ``batch_size``.

Multimodal models (text-image) give one map per modality, as dicts. Each map is normalized on its own (absolute
value, min-max over its valid features), then the features of all modalities are ranked *together*: the joint
deletion curve removes the top features whatever their modality. Per-modality curves come from the same engine
with the other modalities' feature masks switched off (:func:`only_modality`): their features are never removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from transformers.utils import ModelOutput

from ..errors import InvalidInputError
from ..finite import require_finite
from .functional import feature_ranks, normalize_attributions


@dataclass
class PerturbationOutput(ModelOutput):
    """What :func:`compute_perturbations` measured; curves are ``None`` when not asked for.

    Args:
        predicted_class: the class predicted on the full input, ``[B]``.
        probabilities: p(x), its softmax probability on the full input, ``[B]``.
        masked_probabilities: p(x * S), the same class' probability on the input weighted by the
            normalized map, ``[B]`` (feeds ``average_drop``).
        deletion_curve: ``[B, steps + 1]``, from the full input to all valid features removed.
        insertion_curve: ``[B, steps + 1]``, from all valid features removed to the full input.
    """

    predicted_class: torch.Tensor | None = None
    probabilities: torch.Tensor | None = None
    masked_probabilities: torch.Tensor | None = None
    deletion_curve: torch.Tensor | None = None
    insertion_curve: torch.Tensor | None = None


def _step_counts(valid: torch.Tensor, steps: int) -> torch.Tensor:
    """Features removed (deletion) or inserted (insertion) after each step: ``round(j * N / steps)``, ``[B, steps+1]``.

    Halves round up; the first count is 0 and the last is N.
    """
    fractions = torch.arange(steps + 1, device=valid.device)
    return (fractions * valid.unsqueeze(1) + steps // 2) // steps


def _variant_table(
    valid: torch.Tensor, steps: int, deletion: bool, insertion: bool, masked: bool
) -> tuple[torch.Tensor, torch.Tensor, dict[str, slice]]:
    """Which ranks each forward of a sample keeps, ``rank in [low, high)`` (``[B, K]`` each), and the columns.

    Groups of columns: the full input; with a curve, everything removed and the interior points of the
    deletion and insertion curves (their end points are those two); ``x * S`` (whose window is replaced by S).
    """
    counts = _step_counts(valid, steps)[:, 1:-1]
    valid = valid.unsqueeze(1)
    zero = torch.zeros_like(valid)
    windows = {"full": (zero, valid)}
    if deletion or insertion:
        windows["empty"] = (zero, zero)
    if deletion:
        windows["deletion"] = (counts, valid.expand_as(counts))
    if insertion:
        windows["insertion"] = (torch.zeros_like(counts), counts)
    if masked:
        windows["masked"] = (zero, valid)
    columns, start = {}, 0
    for name, (low, _) in windows.items():
        columns[name] = slice(start, start + low.shape[1])
        start += low.shape[1]
    low = torch.cat([low for low, _ in windows.values()], dim=1)
    high = torch.cat([high for _, high in windows.values()], dim=1)
    return low, high, columns


class _FlatFeatures:
    """One map or a dict of maps (one per modality) as one flat row of features per sample, and back."""

    def __init__(self, feature_mask: torch.Tensor | Mapping[str, torch.Tensor]):
        self.shapes = (
            {name: mask.shape[1:] for name, mask in feature_mask.items()} if isinstance(feature_mask, Mapping) else None
        )
        self.single_shape = None if self.shapes is not None else feature_mask.shape[1:]

    def flatten(self, maps: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.shapes is None:
            return maps.flatten(1)
        return torch.cat([maps[name].flatten(1) for name in self.shapes], dim=1)

    def unflatten(self, flat: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.shapes is None:
            return flat.view(-1, *self.single_shape)
        sizes = [shape.numel() for shape in self.shapes.values()]
        parts = flat.split(sizes, dim=1)
        return {name: part.reshape(-1, *shape) for (name, shape), part in zip(self.shapes.items(), parts, strict=True)}

    def normalize(self, attributions: Any, feature_mask: Any) -> torch.Tensor:
        """The normalized map(s), flat: each modality normalized on its own, then side by side."""
        if self.shapes is None:
            return normalize_attributions(attributions, feature_mask).flatten(1)
        return self.flatten(
            {name: normalize_attributions(attributions[name], feature_mask[name]) for name in self.shapes}
        )


def only_modality(feature_mask: Mapping[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The feature masks with every modality but ``name`` switched off: the engine then perturbs ``name`` only."""
    return {key: mask if key == name else torch.zeros_like(mask) for key, mask in feature_mask.items()}


def _rows(value: Any, index: torch.Tensor) -> Any:
    """The rows ``index`` of a tensor or of each tensor of a dict."""
    return {key: part[index] for key, part in value.items()} if isinstance(value, Mapping) else value[index]


def _select(kwargs: Mapping[str, Any], index: torch.Tensor, batch: int) -> dict[str, Any]:
    """The forward arguments of the samples in ``index`` (per-sample tensors are indexed, the rest kept)."""
    return {
        key: value[index] if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch else value
        for key, value in kwargs.items()
    }


def compute_perturbations(
    model: Any,
    inputs: Mapping[str, Any],
    attributions: torch.Tensor | Mapping[str, torch.Tensor],
    feature_mask: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
    *,
    steps: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    deletion: bool = True,
    insertion: bool = True,
    masked: bool = True,
) -> PerturbationOutput:
    """Run every perturbed forward for a batch and return probabilities and curves.

    Args:
        model: an :class:`~hf_ssxai.AutoModelWithScorer` (or anything with ``classifier``, ``modality`` and,
            when ``feature_mask`` is not given, ``scorer_config``).
        inputs: the classifier's inputs for the batch (``input_ids``, ``attention_mask``, ... or
            ``pixel_values``); ``labels`` is ignored.
        attributions: maps ``[B, *features]`` from any explainer (normalized here); for a multimodal model a dict
            with one map per modality, whose features are ranked together (see the module docstring).
        feature_mask: valid features, same shape (a dict for a multimodal model); defaults to the modality's
            (padding and special tokens out).
        steps: deletion/insertion steps; the curves have ``steps + 1`` points.
        batch_size: how many perturbed inputs go through the classifier at once.
        seed: seed of the tie-breaking keys.
        deletion, insertion, masked: which measurements to make (p(x) is always made).
    """
    if steps < 1 or batch_size < 1:
        raise InvalidInputError(f"steps and batch_size must be positive, got steps={steps}, batch_size={batch_size}.")
    classifier, modality = model.classifier, model.modality
    inputs = {key: value for key, value in inputs.items() if key != "labels"}
    modality.validate_inputs(classifier, inputs)
    with torch.inference_mode():
        maskable, forward_kwargs = modality.split_inputs(classifier, modality.classifier_inputs(inputs))
        if feature_mask is None:
            feature_mask = modality.feature_mask(inputs, model.scorer_config)
        features = _FlatFeatures(feature_mask)
        flat_mask = features.flatten(feature_mask)
        device = flat_mask.device
        soft = features.normalize(attributions, feature_mask).to(device)
        ranks = feature_ranks(soft, flat_mask, seed)
        batch = flat_mask.shape[0]
        low, high, columns = _variant_table(flat_mask.sum(1), steps, deletion, insertion, masked)

        width = low.shape[1]
        sample = torch.arange(batch, device=device).repeat_interleave(width)
        low, high = low.reshape(-1, 1), high.reshape(-1, 1)
        is_soft = torch.zeros(batch, width, dtype=torch.bool, device=device)
        if masked:
            is_soft[:, columns["masked"]] = True
        is_soft = is_soft.reshape(-1, 1)

        probabilities = []
        for start in range(0, sample.shape[0], batch_size):
            chunk = slice(start, start + batch_size)
            index = sample[chunk]
            rank = ranks[index]
            keep = ((rank >= low[chunk]) & (rank < high[chunk])).to(soft.dtype)
            keep = features.unflatten(torch.where(is_soft[chunk], soft[index], keep))
            perturbed = modality.apply_scores(_rows(maskable, index), keep, _rows(feature_mask, index))
            logits = modality.forward_from_maskable(classifier, perturbed, _select(forward_kwargs, index, batch))
            probabilities.append(logits.float().softmax(dim=-1))
        probabilities = torch.cat(probabilities).view(batch, width, -1)
        require_finite(probabilities, f"The classifier {type(classifier).__name__} on perturbed inputs")

    predicted = probabilities[:, columns["full"]].argmax(dim=-1).squeeze(1)
    p = probabilities.gather(2, predicted.view(-1, 1, 1).expand(-1, width, 1)).squeeze(2)
    group = {name: p[:, column] for name, column in columns.items()}
    return PerturbationOutput(
        predicted_class=predicted,
        probabilities=group["full"].squeeze(1),
        masked_probabilities=group["masked"].squeeze(1) if masked else None,
        deletion_curve=torch.cat([group["full"], group["deletion"], group["empty"]], dim=1) if deletion else None,
        insertion_curve=torch.cat([group["empty"], group["insertion"], group["full"]], dim=1) if insertion else None,
    )
