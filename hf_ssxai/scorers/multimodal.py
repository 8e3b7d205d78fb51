"""The scorer of a multimodal classifier: one scorer per part (modality), each conditioned on the fusion's output."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
from torch import nn

from ..configuration import ScorerConfig


def part_config(config: ScorerConfig, modality: str) -> ScorerConfig:
    """The single-modality config of one part of a multimodal scorer (same size, head and switches)."""
    part = copy.deepcopy(config)
    part.modality = modality
    part.hidden_state_layers = config.hidden_state_layers[modality]
    part.classifier_hidden_sizes = config.classifier_hidden_sizes[modality]
    if isinstance(config.head_normalization, dict):
        part.head_normalization = config.head_normalization.get(modality)
    return part


class MultimodalScorer(nn.Module):
    """One scorer per part, each a submodule named after its modality (text-image: a ``TextScorer`` over the
    caption's tokens as ``text`` and an ``ImageScorer`` over the pixels as ``image``).

    Conditioning is per feature: the text scorer reads, beside each token's text-encoder state, that token's
    output of the fusion layers (which attended to the image); the image scorer adds the fused vision tokens, on
    their patch grid, as one more decoder level. So each map can depend on the other modality, and does (tested:
    the same caption beside another image gets another text map).
    """

    def __init__(self, config: ScorerConfig, builders: Mapping[str, Callable[[ScorerConfig], nn.Module]]):
        super().__init__()
        self.part_names = tuple(builders)
        for name, build in builders.items():
            self.add_module(name, build(part_config(config, name)))

    def forward(
        self,
        features: dict[str, list[torch.Tensor]],
        feature_mask: dict[str, torch.Tensor],
        inputs: dict,
        *conditions: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """One map per part (text-image: ``{"text": [batch, tokens], "image": [batch, height, width]}``), each in
        [0, 1] over its valid features; ``conditions`` go to every part as they are (e.g. the class a
        class-conditional scorer explains)."""
        return {
            name: getattr(self, name)(features[name], feature_mask[name], inputs, *conditions)
            for name in self.part_names
        }
