"""Image scorer: a U-Net-like decoder from the classifier's spatial features to a per-pixel map."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..configuration import ScorerConfig
from .conditioning import ClassConditioning
from .head import ScorerHead, start_alive

#: channels of the full-resolution stage; it only sharpens the coarse map along the pixels, and its cost
#: grows with the image area, so it stays narrow whatever the scorer's width (see docs/performance.md)
FINE_WIDTH = 16


class ConvBlock(nn.Module):
    """3x3 convolution, GroupNorm and GELU with a residual connection."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, kernel_size=3, padding=1, padding_mode="replicate")
        self.norm = nn.GroupNorm(1, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


class ImageScorer(nn.Module):
    """Decodes coarse-to-fine: the coarsest selected map first, each finer one added as a skip.

    Feature maps of the same resolution (all layers of a ViT) are merged at that level. The last
    step upsamples to the input resolution and adds a narrow skip from the pixels themselves, so the
    map can follow edges finer than the classifier's patches or strides.

    Convolutions pad by replicating the border, not with zeros: zero padding lets the decoder
    tell where the image border is, and a scorer trained with the magnitude penalty then learns a
    cheap trick, a one-pixel spike at a fixed place near the border, which after min-max rescaling
    shrinks every other score (measured in ``docs/training.md``).
    """

    def __init__(self, config: ScorerConfig):
        super().__init__()
        width = config.hidden_size
        fine_width = FINE_WIDTH
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, kernel_size=1) for c in config.classifier_hidden_sizes)
        self.level_blocks = nn.ModuleList(
            nn.Sequential(*[ConvBlock(width) for _ in range(config.num_hidden_layers)])
            for _ in config.classifier_hidden_sizes
        )
        self.conditioning = (
            nn.ModuleList(ClassConditioning(config.num_labels, width) for _ in config.classifier_hidden_sizes)
            if config.class_conditional
            else None
        )
        self.to_fine = nn.Conv2d(width, fine_width, kernel_size=1)
        self.pixel_skip = nn.Sequential(
            nn.Conv2d(config.input_channels, fine_width, kernel_size=3, padding=1, padding_mode="replicate"),
            nn.GELU(),
            ConvBlock(fine_width),
        )
        self.fine_block = nn.Sequential(
            nn.Conv2d(2 * fine_width, fine_width, kernel_size=3, padding=1, padding_mode="replicate"),
            nn.GELU(),
            ConvBlock(fine_width),
        )
        self.to_logit = nn.Conv2d(fine_width, 1, kernel_size=1)
        self.head = ScorerHead(config)
        start_alive(self.to_logit)

    def forward(
        self,
        features: list[torch.Tensor],
        feature_mask: torch.Tensor,
        inputs: dict,
        target_class: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores ``[batch, height, width]`` from feature maps ``[batch, C, h, w]`` and the input pixels
        (``target_class``: the class to explain, for a class-conditional scorer; it conditions every level)."""
        pixel_values = inputs["pixel_values"]
        dtype = self.to_logit.weight.dtype
        order = sorted(range(len(features)), key=lambda i: features[i].shape[-2] * features[i].shape[-1])
        decoded = None
        for index in order:
            lateral = self.lateral[index](features[index].to(dtype))
            if self.conditioning is not None:
                lateral = self.conditioning[index](lateral, target_class, channel_dim=1)
            if decoded is not None:
                lateral = lateral + F.interpolate(
                    decoded, size=lateral.shape[-2:], mode="bilinear", align_corners=False
                )
            decoded = self.level_blocks[index](lateral)
        fine = F.interpolate(self.to_fine(decoded), size=pixel_values.shape[-2:], mode="bilinear", align_corners=False)
        fine = self.fine_block(torch.cat([fine, self.pixel_skip(pixel_values.to(dtype))], dim=1))
        return self.head(self.to_logit(fine).squeeze(1), feature_mask)
