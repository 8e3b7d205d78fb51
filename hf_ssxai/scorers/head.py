"""The shared scorer head: per-feature logit -> ReLU -> sigmoid -> min-max over valid features.

Each step can be switched off through :class:`ScorerConfig` (the thesis' ablation). Features that
are not valid always come out as 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..configuration import ScorerConfig

CONSTANT_RANGE = 1e-6


def masked_min_max(values: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Rescale each sample to [0, 1] over its valid features.

    A map that is constant over several valid features (or has none) has no range to rescale; it comes out as
    zeros (with gradient 1 through each score) instead of dividing by zero, so no NaN can appear: no feature stands
    out, so none is marked. A map over a single valid feature (a one-word text) scores that feature 1, the top of
    every map, with the same gradient: the one feature there is is all the evidence there is.
    """
    flat = values.flatten(1)
    mask = feature_mask.flatten(1)
    low = flat.masked_fill(~mask, float("inf")).amin(dim=1, keepdim=True)
    high = flat.masked_fill(~mask, float("-inf")).amax(dim=1, keepdim=True)
    spread = high - low
    has_range = spread > CONSTANT_RANGE
    # a constant map: every feature sits at the minimum, so every rescaled score is 0 (value 0, gradient 1)
    rescaled = (flat - torch.where(has_range, low, flat.detach())) / torch.where(has_range, spread, 1.0)
    single = mask.sum(dim=1, keepdim=True) == 1
    return torch.where(single & mask, rescaled + 1.0, rescaled).view_as(values)


INITIAL_LOGIT = 2.0
#: the highest valid logit is kept at least this far above 0, where ReLU starts passing values
TOP_LOGIT_MARGIN = 1.0


def keep_top_alive(logits: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """Shift each sample's logits (without gradient) so that its highest valid logit is at least the margin.

    After ReLU, sigmoid and min-max rescaling a map only depends on the logits above 0; once the last of
    them falls below 0 the map is constant, its features all sit at the minimum and no gradient can bring
    them back. That cliff is real: the rescaled top score is always 1, so nothing holds the top logit up,
    while the task loss pushes it down through the rescaling (lowering the maximum raises every other
    score). The shift removes the cliff: a map always points at something, and the top features stay
    at least ``sigmoid(margin) - 0.5`` apart from the switched-off ones, so rescaling never divides by a
    vanishing range. It leaves every map whose top logit is already above the margin unchanged.
    """
    top = logits.flatten(1).masked_fill(~feature_mask.flatten(1), float("-inf")).amax(dim=1)
    shift = (TOP_LOGIT_MARGIN - top).clamp(min=0).nan_to_num(0.0, posinf=0.0, neginf=0.0).detach()
    return logits + shift.view(-1, *[1] * (logits.dim() - 1))


def start_alive(to_logit: nn.Linear | nn.Conv2d) -> None:
    """Start every feature's logit at a positive value, where ReLU passes gradients.

    ReLU before the sigmoid maps every negative logit to the same score (0.5, rescaled to 0): that
    is how unimportant features reach exactly zero, but their gradient is zero too. A scorer
    initialised around logit 0 has half its features dead from the first step and can end with a
    constant map that no gradient moves. Starting at a positive logit lets training decide which
    features to switch off.
    """
    nn.init.normal_(to_logit.weight, std=0.02)
    nn.init.constant_(to_logit.bias, INITIAL_LOGIT)


class MaskedNorm(nn.Module):
    """Standardize scores over valid features, then a learned scale and shift (one each, as a 1-channel norm).

    ``per_sample=True`` standardizes each map on its own (a LayerNorm over the map); ``False`` uses the valid
    features of the whole batch while training and running statistics at inference (a BatchNorm over the map).
    Features that are not valid never enter the statistics.
    """

    def __init__(self, per_sample: bool, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.per_sample = per_sample
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))
        if not per_sample:
            self.register_buffer("running_mean", torch.zeros(()))
            self.register_buffer("running_var", torch.ones(()))

    def forward(self, values: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        mask = feature_mask.to(values.dtype)
        if self.per_sample:
            dims = tuple(range(1, values.dim()))
            count = mask.sum(dim=dims, keepdim=True).clamp(min=1.0)
            mean = (values * mask).sum(dim=dims, keepdim=True) / count
            var = ((values - mean).square() * mask).sum(dim=dims, keepdim=True) / count
        elif self.training:
            count = mask.sum().clamp(min=1.0)
            mean = (values * mask).sum() / count
            var = ((values - mean).square() * mask).sum() / count
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach() * count / (count - 1).clamp(min=1.0), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (values - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class ScorerHead(nn.Module):
    """Turns per-feature logits into scores, switch by switch."""

    def __init__(self, config: ScorerConfig):
        super().__init__()
        self.use_relu = config.use_relu
        self.use_sigmoid = config.use_sigmoid
        self.use_rescale = config.use_rescale
        self.norm = MaskedNorm(per_sample=config.head_normalization == "layer") if config.head_normalization else None

    def forward(self, logits: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        scores = logits.float()
        if self.use_relu:
            scores = torch.relu(keep_top_alive(scores, feature_mask))
        if self.norm is not None:
            scores = self.norm(scores, feature_mask)
        if self.use_sigmoid:
            scores = torch.sigmoid(scores)
        if self.use_rescale:
            scores = masked_min_max(scores, feature_mask)
        return scores.masked_fill(~feature_mask, 0.0)
