"""How alike two attribution maps are: Spearman rank correlation over valid features, and SSIM for images.

Both compare importance, not sign: maps are taken as magnitudes ``|A|`` (the absolute-value variant of Adebayo
et al., which is what a user ranks features by). Spearman uses average ranks, so ties (the many exact zeros of a
scorer's map) count as ties, not in arbitrary order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InvalidInputError

#: side of SSIM's sliding window and its stability constants for data in [0, 1] (Wang et al. 2004)
SSIM_WINDOW = 7
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks of a 1-D tensor, 0-based, ties given the mean of the ranks they span."""
    order = values.argsort()
    sorted_values = values[order]
    # each run of equal values gets the mean of its first and last position
    starts = torch.ones_like(sorted_values, dtype=torch.bool)
    starts[1:] = sorted_values[1:] != sorted_values[:-1]
    run = starts.cumsum(0) - 1
    first = torch.zeros(int(run[-1]) + 1, dtype=torch.float64).scatter_reduce(
        0, run, torch.arange(len(values), dtype=torch.float64), reduce="amin", include_self=False
    )
    last = torch.zeros_like(first).scatter_reduce(
        0, run, torch.arange(len(values), dtype=torch.float64), reduce="amax", include_self=False
    )
    ranks = torch.empty(len(values), dtype=torch.float64)
    ranks[order] = ((first + last) / 2)[run]
    return ranks


def spearman(first: torch.Tensor, second: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of ``|first|`` and ``|second|`` over each sample's valid features, ``[batch]``.

    A map that is constant over the valid features has no ranking; its correlation is 0 (nothing is shared)."""
    if first.shape != second.shape or first.shape != feature_mask.shape:
        raise InvalidInputError(
            f"Maps {tuple(first.shape)}, {tuple(second.shape)} and feature mask {tuple(feature_mask.shape)} must "
            "have the same shape [batch, *features]."
        )
    values = []
    for a, b, mask in zip(first.flatten(1), second.flatten(1), feature_mask.flatten(1), strict=True):
        ra, rb = average_ranks(a[mask].abs().double()), average_ranks(b[mask].abs().double())
        ra, rb = ra - ra.mean(), rb - rb.mean()
        norm = ra.norm() * rb.norm()
        values.append((ra @ rb / norm).item() if norm > 0 else 0.0)
    return torch.tensor(values)


def _unit_magnitude(maps: torch.Tensor) -> torch.Tensor:
    magnitude = maps.abs().float()
    scale = magnitude.flatten(1).amax(dim=1).view(-1, 1, 1)
    return magnitude / torch.where(scale > 0, scale, torch.ones_like(scale))


def ssim(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Structural similarity of image maps ``[batch, height, width]`` after scaling each ``|map|`` to [0, 1],
    averaged over a 7x7 sliding window, ``[batch]``."""
    if first.shape != second.shape or first.dim() != 3:
        raise InvalidInputError(
            f"SSIM compares image maps [batch, height, width] of one shape; got {tuple(first.shape)} and "
            f"{tuple(second.shape)}."
        )
    x, y = _unit_magnitude(first).unsqueeze(1), _unit_magnitude(second).unsqueeze(1)
    window = min(SSIM_WINDOW, *x.shape[-2:])

    def local_mean(values: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(values, window, stride=1)

    mean_x, mean_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mean_x**2
    var_y = local_mean(y * y) - mean_y**2
    covariance = local_mean(x * y) - mean_x * mean_y
    index = ((2 * mean_x * mean_y + SSIM_C1) * (2 * covariance + SSIM_C2)) / (
        (mean_x**2 + mean_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2)
    )
    return index.flatten(1).mean(dim=1)
