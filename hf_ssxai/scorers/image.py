"""Image scorer: a U-Net-like decoder from the classifier's spatial features to a per-pixel map."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..configuration import ScorerConfig
from .conditioning import ClassConditioning
from .head import ScorerHead, start_alive

#: channels of the stages finer than the classifier's finest map; they only sharpen the map along the pixels, and
#: their cost grows with the image area, so they stay narrow whatever the scorer's width (see docs/performance.md)
FINE_WIDTH = 16


class ConvBlock(nn.Module):
    """3x3 convolution, GroupNorm and GELU with a residual connection."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, kernel_size=3, padding=1, padding_mode="replicate")
        self.norm = nn.GroupNorm(1, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


class Upsample(nn.Module):
    """Doubles the resolution until it reaches ``size``: bilinear, or a transposed convolution (stride 2) shared by
    every doubling; a final bilinear step fixes sizes that are not a power of two apart."""

    def __init__(self, in_width: int, out_width: int, transposed: bool):
        super().__init__()
        self.transposed = transposed
        self.project = nn.Identity() if in_width == out_width else nn.Conv2d(in_width, out_width, kernel_size=1)
        if transposed:
            self.doubling = nn.ConvTranspose2d(out_width, out_width, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.project(x)
        if self.transposed:
            while x.shape[-2] * 2 <= size[0] and x.shape[-1] * 2 <= size[1]:
                x = F.gelu(self.doubling(x))
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x


def level_sizes(features: list[torch.Tensor], image_size: tuple[int, int], spread_equal: bool) -> list[tuple]:
    """The decoder resolution of each feature map.

    Maps keep their own resolution; with ``spread_equal`` (the U-Net decoder), maps that share one resolution (the
    layers of a ViT) are spread over successively finer levels instead, the last (deepest) at its own resolution,
    each earlier one at twice the previous, capped at the image size.
    """
    sizes = [tuple(f.shape[-2:]) for f in features]
    if not spread_equal:
        return sizes
    placed = list(sizes)
    for size in set(sizes):
        same = [i for i, s in enumerate(sizes) if s == size]
        for step, index in enumerate(reversed(same)):
            factor = 2**step
            placed[index] = (min(size[0] * factor, image_size[0]), min(size[1] * factor, image_size[1]))
    return placed


class ImageScorer(nn.Module):
    """Decodes coarse-to-fine: the coarsest level first, each finer one added as a skip.

    With the default ``image_decoder="bilinear"``, feature maps of the same resolution (all layers of a ViT) are
    merged at that level and levels are joined by bilinear upsampling. With ``"unet"`` (the thesis' section 4.4),
    levels are joined by transposed convolutions and same-resolution layers are spread over finer levels. The last
    step brings the finest level to the input resolution; with ``pixel_skip`` a narrow convolution of the pixels
    themselves joins there, so the map can follow edges finer than the classifier's patches or strides (at the
    price of letting the scorer follow the image rather than the classifier: see docs/training.md).

    Convolutions pad by replicating the border, not with zeros: zero padding lets the decoder
    tell where the image border is, and a scorer trained with the magnitude penalty then learns a
    cheap trick, a one-pixel spike at a fixed place near the border, which after min-max rescaling
    shrinks every other score (measured in ``docs/training.md``).
    """

    def __init__(self, config: ScorerConfig):
        super().__init__()
        width = config.hidden_size
        transposed = config.image_decoder == "unet"
        self.spread_equal = transposed
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
        # a feature map placed finer than its own resolution (U-Net), and the decoder between levels
        self.skip_up = nn.ModuleList(Upsample(width, width, transposed) for _ in config.classifier_hidden_sizes)
        self.level_up = nn.ModuleList(Upsample(width, width, transposed) for _ in config.classifier_hidden_sizes)
        self.to_fine = nn.Conv2d(width, FINE_WIDTH, kernel_size=1)
        self.fine_up = Upsample(FINE_WIDTH, FINE_WIDTH, transposed)
        self.pixel_skip = (
            nn.Sequential(
                nn.Conv2d(config.input_channels, FINE_WIDTH, kernel_size=3, padding=1, padding_mode="replicate"),
                nn.GELU(),
                ConvBlock(FINE_WIDTH),
            )
            if config.pixel_skip
            else None
        )
        fine_in = 2 * FINE_WIDTH if config.pixel_skip else FINE_WIDTH
        self.fine_block = nn.Sequential(
            nn.Conv2d(fine_in, FINE_WIDTH, kernel_size=3, padding=1, padding_mode="replicate"),
            nn.GELU(),
            ConvBlock(FINE_WIDTH),
        )
        self.to_logit = nn.Conv2d(FINE_WIDTH, 1, kernel_size=1)
        self.head = ScorerHead(config)
        start_alive(self.to_logit)

    def forward(
        self,
        features: list[torch.Tensor],
        feature_mask: torch.Tensor,
        inputs: dict,
        target_class: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores ``[batch, height, width]`` from feature maps ``[batch, C, h, w]`` (and the input pixels with the
        pixel skip); ``target_class``: the class to explain, for a class-conditional scorer (it conditions every
        level)."""
        pixel_values = inputs["pixel_values"]
        image_size = tuple(pixel_values.shape[-2:])
        dtype = self.to_logit.weight.dtype
        sizes = level_sizes(features, image_size, self.spread_equal)
        order = sorted(range(len(features)), key=lambda i: sizes[i][0] * sizes[i][1])
        decoded = None
        for index in order:
            lateral = self.lateral[index](features[index].to(dtype))
            if self.conditioning is not None:
                lateral = self.conditioning[index](lateral, target_class, channel_dim=1)
            if tuple(lateral.shape[-2:]) != sizes[index]:
                lateral = self.skip_up[index](lateral, sizes[index])
            if decoded is not None:
                lateral = lateral + self.level_up[index](decoded, sizes[index])
            decoded = self.level_blocks[index](lateral)
        fine = self.fine_up(self.to_fine(decoded), image_size)
        if self.pixel_skip is not None:
            fine = torch.cat([fine, self.pixel_skip(pixel_values.to(dtype))], dim=1)
        return self.head(self.to_logit(self.fine_block(fine)).squeeze(1), feature_mask)
