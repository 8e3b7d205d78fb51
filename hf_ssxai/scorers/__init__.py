"""Scorer networks, one per modality, sharing :class:`ScorerHead`."""

from __future__ import annotations

from torch import nn

from ..configuration import ScorerConfig
from .head import ScorerHead, masked_min_max
from .image import ImageScorer
from .text import TextScorer
from .text_image import TextImageScorer

SCORER_REGISTRY: dict[str, type[nn.Module]] = {"text": TextScorer, "image": ImageScorer, "text-image": TextImageScorer}


def build_scorer(config: ScorerConfig) -> nn.Module:
    """Instantiate the scorer network a (complete) config describes."""
    return SCORER_REGISTRY[config.modality](config)


__all__ = ["ImageScorer", "ScorerHead", "TextImageScorer", "TextScorer", "build_scorer", "masked_min_max"]
