"""Class conditioning of a scorer: the class to explain scales and shifts the scorer's features (FiLM)."""

from __future__ import annotations

import torch
from torch import nn

from ..configuration import ScorerConfig


class ClassConditioning(nn.Module):
    """``features * (1 + scale_c) + shift_c`` with a learned ``(scale, shift)`` per class ``c``.

    A product, not only a sum: to find the evidence for class ``c`` the scorer has to compare what each feature
    shows with what ``c`` looks like, and a per-class scale lets a feature's evidence for ``c`` be switched up or
    down. Starts at zero, i.e. as the unconditioned scorer, and learns from there.
    """

    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.film = nn.Embedding(num_classes, 2 * width)
        nn.init.zeros_(self.film.weight)

    def forward(self, features: torch.Tensor, target_class: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """Condition ``features`` (``[batch, ...]``, channels at ``channel_dim``) on ``target_class`` ``[batch]``."""
        scale, shift = self.film(target_class).to(features.dtype).chunk(2, dim=-1)
        shape = [features.shape[0]] + [1] * (features.dim() - 1)
        shape[channel_dim] = features.shape[channel_dim]
        return features * (1 + scale.view(shape)) + shift.view(shape)


def build_conditioning(config: ScorerConfig, width: int) -> ClassConditioning | None:
    """A conditioning layer when the config asks for a class-conditional scorer, else None."""
    return ClassConditioning(config.num_labels, width) if config.class_conditional else None
