"""Text-image scorer: one scorer per modality, each conditioned on the fusion layers' output."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..configuration import ScorerConfig
from .image import ImageScorer
from .text import TextScorer


def part_config(config: ScorerConfig, modality: str) -> ScorerConfig:
    """The single-modality config of one part of a text-image scorer (same size, head and switches)."""
    part = copy.deepcopy(config)
    part.modality = modality
    part.hidden_state_layers = config.hidden_state_layers[modality]
    part.classifier_hidden_sizes = config.classifier_hidden_sizes[modality]
    if isinstance(config.head_normalization, dict):
        part.head_normalization = config.head_normalization.get(modality)
    return part


class TextImageScorer(nn.Module):
    """A :class:`TextScorer` over the caption's tokens and an :class:`ImageScorer` over the pixels.

    Conditioning is per feature: the text scorer reads, beside each token's text-encoder state, that token's
    output of the fusion layers (which attended to the image); the image scorer adds the fused vision tokens, on
    their patch grid, as one more decoder level. So each map can depend on the other modality, and does (tested:
    the same caption beside another image gets another text map).
    """

    def __init__(self, config: ScorerConfig):
        super().__init__()
        self.text = TextScorer(part_config(config, "text"))
        self.image = ImageScorer(part_config(config, "image"))

    def forward(
        self,
        features: dict[str, list[torch.Tensor]],
        feature_mask: dict[str, torch.Tensor],
        inputs: dict,
        *conditions: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """``{"text": [batch, tokens], "image": [batch, height, width]}``, each in [0, 1] over its valid features;
        ``conditions`` go to both scorers as they are (e.g. the class a class-conditional scorer explains)."""
        return {
            "text": self.text(features["text"], feature_mask["text"], inputs, *conditions),
            "image": self.image(features["image"], feature_mask["image"], inputs, *conditions),
        }
