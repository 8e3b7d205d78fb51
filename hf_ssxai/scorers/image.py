"""Image scorer: a U-Net-like decoder from the classifier's spatial features to a per-pixel map."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..configuration import GATED_PIXEL_SKIP, ScorerConfig
from .conditioning import ClassConditioning
from .head import ScorerHead, start_alive

#: channels of the stages finer than the classifier's finest map; they only sharpen the map along the pixels, and
#: their cost grows with the image area, so they stay narrow whatever the scorer's width (see docs/performance.md)
FINE_WIDTH = 16
#: the gated pixel skip's term lies in [-PIXEL_TERM_RANGE, PIXEL_TERM_RANGE] (logit units)
PIXEL_TERM_RANGE = 1.0


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


def level_sizes(
    features: list[torch.Tensor], image_size: tuple[int, int], skip_levels: list[int]
) -> list[tuple[int, int]]:
    """The decoder resolution of each feature map: its own, doubled ``skip_levels[i]`` times, capped at the image."""
    sizes = []
    for feature, level in zip(features, skip_levels, strict=True):
        height, width = feature.shape[-2:]
        sizes.append((min(height * 2**level, image_size[0]), min(width * 2**level, image_size[1])))
    return sizes


def level_width(width: int, level: int) -> int:
    """Decoder width at ``level`` doublings finer than the classifier's own resolution: halved per doubling, as in a
    U-Net, down to :data:`FINE_WIDTH`."""
    return max(FINE_WIDTH, width >> level)


class ImageScorer(nn.Module):
    """Decodes coarse-to-fine: the coarsest level first, each finer one added as a skip.

    With the default ``image_decoder="bilinear"``, feature maps of the same resolution (all layers of a ViT) are
    merged at that level and levels are joined by bilinear upsampling. With ``"unet"`` (the thesis' section 4.4),
    levels are joined by transposed convolutions and same-resolution layers are spread over finer levels. The last
    step brings the finest level to the input resolution; with ``pixel_skip`` a narrow convolution of the pixels
    themselves joins there, so the map can follow edges finer than the classifier's patches or strides (at the
    price of letting the scorer follow the image rather than the classifier: see docs/training.md). With
    ``pixel_skip="gated"`` the pixels instead add a bounded term to each logit, scaled by a gate read from the
    decoder's own output, so they can reorder what the classifier's path marks alike but not draw a map.

    Convolutions pad by replicating the border, not with zeros: zero padding lets the decoder
    tell where the image border is, and a scorer trained with the magnitude penalty then learns a
    cheap trick, a one-pixel spike at a fixed place near the border, which after min-max rescaling
    shrinks every other score (measured in ``docs/training.md``).
    """

    def __init__(self, config: ScorerConfig):
        super().__init__()
        transposed = config.image_decoder == "unet"
        sizes = config.classifier_hidden_sizes
        self.skip_levels = list(config.unet_skip_levels or [0] * len(sizes)) if transposed else [0] * len(sizes)
        widths = [level_width(config.hidden_size, level) for level in self.skip_levels]
        # the next-coarser level of each level (that of the feature one doubling coarser, if there is one)
        coarser = [
            widths[self.skip_levels.index(level - 1)] if level else widths[i]
            for i, level in enumerate(self.skip_levels)
        ]
        self.lateral = nn.ModuleList(nn.Conv2d(c, w, kernel_size=1) for c, w in zip(sizes, widths, strict=True))
        self.level_blocks = nn.ModuleList(
            nn.Sequential(*[ConvBlock(w) for _ in range(config.num_hidden_layers)]) for w in widths
        )
        self.conditioning = (
            nn.ModuleList(ClassConditioning(config.num_labels, w) for w in widths) if config.class_conditional else None
        )
        # a feature map placed finer than its own resolution (U-Net), and the decoder between levels
        self.skip_up = nn.ModuleList(Upsample(w, w, transposed) for w in widths)
        self.level_up = nn.ModuleList(Upsample(c, w, transposed) for c, w in zip(coarser, widths, strict=True))
        self.to_fine = nn.Conv2d(widths[self.skip_levels.index(max(self.skip_levels))], FINE_WIDTH, kernel_size=1)
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
        gated = config.pixel_skip == GATED_PIXEL_SKIP
        # gated: the pixels add a bounded term to the logit, tanh(refine) in [-1, 1], scaled by a gate in [0, 1]
        # read from the classifier's path; they can reorder pixels the classifier marks alike, not draw a map
        self.refine = nn.Conv2d(FINE_WIDTH, 1, kernel_size=1) if gated else None
        self.gate = nn.Conv2d(FINE_WIDTH, 1, kernel_size=1) if gated else None
        fine_in = 2 * FINE_WIDTH if config.pixel_skip and not gated else FINE_WIDTH
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
        sizes = level_sizes(features, image_size, self.skip_levels)
        order = sorted(range(len(features)), key=lambda i: (sizes[i][0] * sizes[i][1], self.skip_levels[i]))
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
        pixels = self.pixel_skip(pixel_values.to(dtype)) if self.pixel_skip is not None else None
        if pixels is not None and self.gate is None:
            fine = torch.cat([fine, pixels], dim=1)
        fine = self.fine_block(fine)
        logits = self.to_logit(fine)
        if self.gate is not None:
            logits = logits + PIXEL_TERM_RANGE * torch.sigmoid(self.gate(fine)) * torch.tanh(self.refine(pixels))
        return self.head(logits.squeeze(1), feature_mask)
