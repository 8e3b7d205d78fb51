"""Attribution metrics as pure, batched tensor functions.

Every function takes attributions ``[B, *features]`` and a boolean ``feature_mask`` of the same shape
(``True`` = a valid feature: not padding, not a special token) and returns one value per sample ``[B]``.
Features that are not valid never count. Map metrics first make every map comparable with
:func:`normalize_attributions` (absolute value, then min-max to [0, 1] over the sample's valid features),
so learned and gradient maps are measured on the same scale. No function returns NaN for finite inputs: the value
of degenerate maps (constant, all zero, no valid feature) is stated in each docstring. NaN or Inf in a map's valid
features or in probabilities, probabilities outside [0, 1], maps without features, and masks of another shape than
the map, raise :class:`InvalidInputError`. Every tensor argument also takes a numpy array or a nested list.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import torch

from ..errors import InvalidInputError

#: Multiplier of the integer hash behind the seeded tie-breaking keys (Mueller's 32-bit hash).
_HASH_MULTIPLIER = 0x45D9F3B
_UINT32 = 0xFFFFFFFF
#: the arguments that are tensors, in every function of this module
_TENSOR_ARGUMENTS = frozenset(
    {
        "attributions",
        "feature_mask",
        "evidence_mask",
        "rationale_mask",
        "full_probability",
        "masked_probability",
        "curve",
    }
)
_Function = TypeVar("_Function", bound=Callable[..., Any])


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    """``value`` (a tensor, a numpy array or a nested list of numbers) as a tensor, else :class:`InvalidInputError`."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InvalidInputError(
            f"{name} must be a tensor, a numpy array or a nested list of numbers with one shape [batch, ...]; got "
            f"{type(value).__name__} ({error})."
        ) from error
    if tensor.is_complex():
        raise InvalidInputError(f"{name} must hold real numbers, got {tensor.dtype}.")
    return tensor


def _takes_arrays(function: _Function) -> _Function:
    """Let ``function`` take numpy arrays and nested lists wherever it takes a tensor (see :func:`_as_tensor`)."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        for name in _TENSOR_ARGUMENTS.intersection(bound.arguments):
            bound.arguments[name] = _as_tensor(name, bound.arguments[name])
        return function(*bound.args, **bound.kwargs)

    return wrapper  # type: ignore[return-value]


def _flatten(attributions: torch.Tensor, feature_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, *features]`` -> ``[B, F]`` (float and bool), checking the shapes agree."""
    if attributions.shape != feature_mask.shape or attributions.dim() < 2:
        raise InvalidInputError(
            f"attributions {tuple(attributions.shape)} and feature_mask {tuple(feature_mask.shape)} must have the "
            "same shape [batch, *features]."
        )
    values, mask = attributions.flatten(1).float(), feature_mask.flatten(1).bool()
    if values.shape[1] == 0:
        raise InvalidInputError(
            f"attributions {tuple(attributions.shape)} have no features: give one value per token or pixel."
        )
    if not torch.isfinite(values[mask]).all():
        raise InvalidInputError(
            "attributions contain NaN or Inf on valid features: the explainer failed on these samples (check "
            "its inputs, or run it in float32); no metric of such a map is meaningful."
        )
    return values, mask


def _check_like(name: str, tensor: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """``tensor`` flattened to ``[B, F]`` bool after checking it has the shape of ``feature_mask``."""
    if tensor.shape != feature_mask.shape or feature_mask.dim() < 2:
        raise InvalidInputError(
            f"{name} {tuple(tensor.shape)} must have the shape of feature_mask {tuple(feature_mask.shape)}, "
            "[batch, *features]: one value per feature of each sample."
        )
    return tensor.flatten(1).bool()


def _check_finite(name: str, values: torch.Tensor) -> None:
    if not torch.isfinite(values).all():
        raise InvalidInputError(f"{name} contains NaN or Inf; compute it from finite classifier outputs.")


def _valid_count(mask: torch.Tensor) -> torch.Tensor:
    """Number of valid features per sample, as float ``[B]``."""
    return mask.sum(dim=1).float()


def _nonzero(denominator: torch.Tensor) -> torch.Tensor:
    """``denominator`` with its zeros replaced by 1 (the caller then picks the degenerate value)."""
    return torch.where(denominator > 0, denominator, torch.ones_like(denominator))


@_takes_arrays
def normalize_attributions(attributions: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Absolute value, then min-max to [0, 1] per sample over the valid features.

    Range [0, 1]; features that are not valid are 0. A constant (or all-zero) map, or a sample without
    valid features, gives all zeros. Returns the input's shape.
    """
    values, mask = _flatten(attributions, feature_mask)
    values = values.abs()
    low = values.masked_fill(~mask, torch.inf).amin(dim=1, keepdim=True)
    high = values.masked_fill(~mask, -torch.inf).amax(dim=1, keepdim=True)
    spread = high - low
    has_spread = mask.any(dim=1, keepdim=True) & (spread > 0)
    scaled = (values - low) / _nonzero(spread)
    normalized = torch.where(mask & has_spread, scaled, torch.zeros_like(values))
    return normalized.clamp(0.0, 1.0).reshape(attributions.shape)


@_takes_arrays
def complexity(attributions: torch.Tensor, feature_mask: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """Norm of the normalized map over the valid features; lower is better (a simpler explanation).

    ``norm="l2"`` (default, the thesis' code): range [0, sqrt(N)]; ``norm="l1"`` (Poppi et al., 2021):
    range [0, N], with N the number of valid features. A constant or all-zero map gives 0.
    """
    if norm not in ("l1", "l2"):
        raise InvalidInputError(f"norm must be 'l1' or 'l2', got {norm!r}.")
    values = normalize_attributions(attributions, feature_mask).flatten(1)
    return values.sum(dim=1) if norm == "l1" else values.square().sum(dim=1).sqrt()


@_takes_arrays
def sparsity(attributions: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Max / mean of the normalized map over the valid features; higher is better (sparser).

    Range [1, N] with N the number of valid features: 1 for a uniform map, N for a single feature.
    A constant or all-zero map (uniform, whatever its level) and a sample without valid features give 1.
    """
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    total = values.sum(dim=1)
    # an all-zero map gives 0 here and 1 after the clamp, which also absorbs rounding just below 1
    return (values.amax(dim=1) * _valid_count(mask) / _nonzero(total)).clamp_min(1.0)


@_takes_arrays
def entropy_complexity(attributions: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of the normalized map rescaled to sum 1 (Bhatt et al., 2020; Quantus' Complexity).

    Lower is better (attribution concentrated on fewer features). Range [0, log N]: 0 for a single
    feature, log N for a uniform map. A constant or all-zero map counts as uniform (log N); a sample
    without valid features gives 0.
    """
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    total = values.sum(dim=1, keepdim=True)
    share = values / _nonzero(total)
    entropy = -torch.special.xlogy(share, share).sum(dim=1)
    uniform = _valid_count(mask).clamp_min(1.0).log()
    return torch.where(total.squeeze(1) > 0, entropy, uniform)


@_takes_arrays
def gini_sparseness(attributions: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Gini index of the normalized map over the valid features (Chalasani et al., 2020; Quantus' Sparseness).

    ``G = sum_i (2i - N - 1) a_(i) / (N sum_i a_i)`` with ``a_(i)`` sorted ascending. Higher is better
    (sparser). Range [0, (N - 1) / N]: 0 for a uniform map, (N - 1) / N for a single feature. A constant
    or all-zero map gives 0 (Quantus adds 1e-7 to every value instead; the result is the same to 1e-6).
    """
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    count = _valid_count(mask)
    # invalid features get -1 and sort first; the valid ones follow in ascending order with ranks 1..N
    ordered = values.masked_fill(~mask, -1.0).sort(dim=1).values
    invalid = (mask.shape[1] - count).unsqueeze(1)
    rank = torch.arange(1, mask.shape[1] + 1, device=values.device).float() - invalid
    weights = torch.where(rank >= 1, 2 * rank - count.unsqueeze(1) - 1, torch.zeros_like(rank))
    total = values.sum(dim=1)
    gini = (weights * ordered).sum(dim=1) / _nonzero(count * total)
    return torch.where(total > 0, gini, torch.zeros_like(gini))


@_takes_arrays
def average_drop(
    full_probability: torch.Tensor, masked_probability: torch.Tensor, relative: bool = True
) -> torch.Tensor:
    """Drop of the predicted class' probability when the input is weighted by the map; lower is better.

    ``relative=True`` (Grad-CAM++, Chattopadhyay et al., 2018): ``max(0, p - p_masked) / p``;
    ``relative=False`` (the thesis' eq. 4.1): ``max(0, p - p_masked)``. ``p`` is the softmax probability
    of the class predicted on the full input, ``p_masked`` that of the same class on ``x * S``, with S the
    normalized map. Range [0, 1]. Inputs ``[B]``.
    """
    if full_probability.shape != masked_probability.shape or full_probability.dim() != 1:
        raise InvalidInputError(
            f"full_probability {tuple(full_probability.shape)} and masked_probability "
            f"{tuple(masked_probability.shape)} must both have shape [batch]: one probability per sample."
        )
    # 0/1 given as bool or integers are probabilities too; tensor arithmetic refuses bool, so compute in float
    full_probability, masked_probability = (
        p if p.is_floating_point() else p.float() for p in (full_probability, masked_probability)
    )
    for name, probability in (("full_probability", full_probability), ("masked_probability", masked_probability)):
        _check_finite(name, probability)
        if bool(((probability < 0) | (probability > 1)).any()):
            raise InvalidInputError(
                f"{name} holds values outside [0, 1] ({probability.min().item():.3g} .. "
                f"{probability.max().item():.3g}); give softmax probabilities, not logits or percentages."
            )
    drop = (full_probability - masked_probability).clamp_min(0.0)
    if not relative:
        return drop
    return drop / _nonzero(full_probability)


@_takes_arrays
def auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under ``curve`` ``[B, T]`` sampled at T equally spaced points of x in [0, 1].

    With probabilities as y the range is [0, 1]. For a deletion curve lower is better (the prediction
    falls as soon as the top features go); for an insertion curve higher is better.
    """
    if curve.dim() != 2 or curve.shape[1] < 2:
        raise InvalidInputError(
            f"curve must have shape [batch, points] with at least 2 points, got {tuple(curve.shape)}."
        )
    _check_finite("curve", curve)
    curve = curve.float()
    return (curve.sum(dim=1) - (curve[:, 0] + curve[:, -1]) / 2) / (curve.shape[1] - 1)


def tie_break_keys(num_features: int, seed: int = 0, device: torch.device | str | None = None) -> torch.Tensor:
    """Seeded pseudo-random keys ``[num_features]`` (int64 in [0, 2^32)), one per flat feature position.

    Ties in a map are broken by these keys. They depend only on the seed and the position, so a sample
    ranks its features the same whatever batch it is in and however much padding follows it.
    """
    offset = (seed * 0x9E3779B9) & _UINT32
    keys = (torch.arange(num_features, device=device, dtype=torch.int64) + offset) & _UINT32
    for _ in range(2):
        keys = ((keys ^ (keys >> 16)) * _HASH_MULTIPLIER) & _UINT32
    return keys ^ (keys >> 16)


@_takes_arrays
def feature_ranks(attributions: torch.Tensor, feature_mask: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Rank of each feature in descending order of the normalized map, ``[B, F]`` (flattened features).

    Valid features get ranks 0..N-1 (0 = most important), ties broken by :func:`tie_break_keys`;
    features that are not valid rank after all valid ones.
    """
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    secondary = tie_break_keys(values.shape[1], seed, values.device).argsort()
    shuffled = values.masked_fill(~mask, -1.0)[:, secondary]
    order = secondary[shuffled.argsort(dim=1, descending=True, stable=True)]
    positions = torch.arange(values.shape[1], device=values.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)


@_takes_arrays
def pointing_game(attributions: torch.Tensor, evidence_mask: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Whether the map's maximum over the valid features falls inside the evidence (Zhang et al., 2018).

    Higher is better; range [0, 1]. Ties: when several valid features share the maximum the value is
    the share of them inside the evidence, i.e. the expected hit under a uniformly random tie-break
    (so a constant map scores the evidence's share of the features, chance level, not a free hit).
    No tolerance margin around the evidence. A sample without valid evidence features gives 0.
    """
    evidence = _check_like("evidence_mask", evidence_mask, feature_mask)
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    evidence = evidence & mask
    peak = values.masked_fill(~mask, -1.0).amax(dim=1, keepdim=True)
    at_peak = mask & (values == peak)
    hits = (at_peak & evidence).sum(dim=1).float() / _nonzero(at_peak.sum(dim=1).float())
    return torch.where(evidence.any(dim=1), hits, torch.zeros_like(hits))


class RationaleOverlap(NamedTuple):
    """Per-sample agreement of a map's top features with a human rationale, each ``[B]`` in [0, 1]."""

    f1: torch.Tensor
    iou: torch.Tensor


@_takes_arrays
def rationale_overlap(
    attributions: torch.Tensor,
    rationale_mask: torch.Tensor,
    feature_mask: torch.Tensor,
    top_k: int | None = None,
    seed: int = 0,
) -> RationaleOverlap:
    """Token F1 and IoU of the map's top-k valid features against a human rationale (DeYoung et al., 2020).

    ``top_k`` defaults to each sample's rationale size (so precision = recall = F1); it is capped at the
    number of valid features. Ties are broken by :func:`feature_ranks`. Higher is better; range [0, 1].
    A sample whose top-k set and rationale are both empty gives 0 for both.
    """
    rationale = _check_like("rationale_mask", rationale_mask, feature_mask)
    _, mask = _flatten(attributions, feature_mask)
    rationale = rationale & mask
    rationale_size = rationale.sum(dim=1)
    k = rationale_size if top_k is None else torch.full_like(rationale_size, top_k)
    k = torch.minimum(k, mask.sum(dim=1)).unsqueeze(1)
    top = mask & (feature_ranks(attributions, feature_mask, seed) < k)
    overlap = (top & rationale).sum(dim=1).float()
    size_sum = (top.sum(dim=1) + rationale_size).float()
    union = size_sum - overlap
    # empty sets have overlap 0, so dividing by 1 instead of 0 gives the stated value 0
    return RationaleOverlap(f1=2 * overlap / _nonzero(size_sum), iou=overlap / _nonzero(union))


@_takes_arrays
def rationale_coverage(rationale_mask: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Share of each sample's valid features inside its rationale, ``[B]`` in [0, 1] (0 without valid features).

    A property of the data, not of a map: it is also a uniformly random map's expected token F1 at k = the
    rationale's size (see :func:`random_rationale_f1`), so rows whose rationale covers most of the text make token F1
    look high for any map.
    """
    rationale = _check_like("rationale_mask", rationale_mask, feature_mask)
    mask = feature_mask.flatten(1).bool()
    return (rationale & mask).sum(dim=1).float() / _nonzero(_valid_count(mask))


@_takes_arrays
def random_rationale_f1(
    rationale_mask: torch.Tensor, feature_mask: torch.Tensor, top_k: int | None = None
) -> torch.Tensor:
    """Expected token F1 of a uniformly random choice of top-k valid features against the rationale: the per-row
    random reference of :func:`rationale_overlap`'s F1, ``[B]`` in [0, 1].

    With N valid features, R of them in the rationale and k chosen, the expected overlap is k R / N, so the
    expected F1 is 2 k R / (N (k + R)); at the default k = R this is R / N, the rationale's coverage. A rationale
    covering the whole text gives 1: no map can do better than chance there. A sample without rationale gives 0.
    """
    rationale = _check_like("rationale_mask", rationale_mask, feature_mask)
    mask = feature_mask.flatten(1).bool()
    rationale_size = (rationale & mask).sum(dim=1).float()
    count = _valid_count(mask)
    k = rationale_size if top_k is None else torch.full_like(rationale_size, float(top_k))
    k = torch.minimum(k, count)
    return 2 * k * rationale_size / _nonzero(count * (k + rationale_size))


@_takes_arrays
def rationale_auprc(
    attributions: torch.Tensor, rationale_mask: torch.Tensor, feature_mask: torch.Tensor
) -> torch.Tensor:
    """Area under the precision-recall curve of the normalized map's scores against the rationale, per sample
    (ERASER's soft-score plausibility metric, DeYoung et al., 2020). Higher is better; range [0, 1].

    As ERASER computes it (scikit-learn's ``precision_recall_curve``, then ``auc``): one point per distinct score
    (tied features enter together), plus the point (recall 0, precision 1), joined by straight lines. Only valid
    features count. Where it misleads: a rationale covering every valid feature gives 1 for any map, and a constant
    map gives (1 + R / N) / 2 (the straight line from the added point), above chance. A sample without valid
    rationale features gives 0.
    """
    rationale = _check_like("rationale_mask", rationale_mask, feature_mask)
    values, mask = _flatten(normalize_attributions(attributions, feature_mask), feature_mask)
    areas = values.new_zeros(values.shape[0])
    for row, (scores, truth, valid) in enumerate(zip(values, rationale & mask, mask, strict=True)):
        scores, truth = scores[valid], truth[valid]
        positives = truth.sum()
        if positives == 0:
            continue
        order = scores.argsort(descending=True, stable=True)
        scores, truth = scores[order], truth[order]
        true_positives = truth.cumsum(0).float()
        seen = torch.arange(1, len(truth) + 1, device=values.device, dtype=torch.float32)
        last_of_tie = torch.ones_like(truth)
        last_of_tie[:-1] = scores[1:] != scores[:-1]
        precision = torch.cat([values.new_ones(1), (true_positives / seen)[last_of_tie]])
        recall = torch.cat([values.new_zeros(1), (true_positives / positives)[last_of_tie]])
        areas[row] = ((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) / 2).sum()
    return areas
