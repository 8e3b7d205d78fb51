"""Scorer networks sharing :class:`ScorerHead`; each modality builds its own (``Modality.build_scorer``)."""

from __future__ import annotations

from .head import ScorerHead, masked_min_max
from .image import ImageScorer
from .multimodal import MultimodalScorer
from .text import TextScorer

__all__ = ["ImageScorer", "MultimodalScorer", "ScorerHead", "TextScorer", "masked_min_max"]
