"""Text scorer: a small transformer over the classifier's token hidden states, one logit per token."""

from __future__ import annotations

import torch
from torch import nn

from ..configuration import ScorerConfig
from .conditioning import build_conditioning
from .head import ScorerHead, start_alive


class TextScorer(nn.Module):
    """Projects the selected hidden states, mixes them with a few self-attention layers, scores each token.

    Padding is excluded with a boolean key-padding mask (``True`` = ignore), so padded positions
    never influence real tokens. (The thesis' reference code passed a 0/1 mask that BERT *adds* to
    its attention scores, which masked nothing.)
    """

    def __init__(self, config: ScorerConfig):
        super().__init__()
        in_width = sum(config.classifier_hidden_sizes)
        self.input_projection = nn.Sequential(nn.LayerNorm(in_width), nn.Linear(in_width, config.hidden_size))
        self.conditioning = build_conditioning(config, config.hidden_size)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_attention_heads,
            dim_feedforward=4 * config.hidden_size,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.output_norm = nn.LayerNorm(config.hidden_size)
        self.to_logit = nn.Linear(config.hidden_size, 1)
        self.head = ScorerHead(config)
        start_alive(self.to_logit)

    def forward(
        self,
        features: list[torch.Tensor],
        feature_mask: torch.Tensor,
        inputs: dict,
        target_class: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores ``[batch, tokens]`` from hidden states ``[batch, tokens, width]`` (``inputs``: attention mask;
        ``target_class``: the class to explain, for a class-conditional scorer)."""
        attention_mask = inputs.get("attention_mask")
        hidden = self.input_projection(torch.cat([f.to(self.to_logit.weight.dtype) for f in features], dim=-1))
        if self.conditioning is not None:
            hidden = self.conditioning(hidden, target_class, channel_dim=-1)
        padding = None if attention_mask is None else ~attention_mask.bool()
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        logits = self.to_logit(self.output_norm(hidden)).squeeze(-1)
        return self.head(logits, feature_mask)
