"""Text-image explanations side by side: the caption as a word heat-map beside the image overlay, per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

from ..modalities import ImageModality, TextModality
from ._common import new_figure, save_png, to_numpy
from .image import overlay, to_rgb_array
from .text import score_to_rgb


def caption_and_overlay(
    tokens: Sequence[str],
    image: Any,
    maps: Mapping[str, Mapping[str, Any]],
    path: str | PathLike[str] | None = None,
    title: str | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    normalize: bool = True,
) -> Any:
    """One row per method: the caption's tokens shaded by ``maps[method]["text"]`` beside the image overlaid with
    ``maps[method]["image"]``; PNG at ``path``.

    ``tokens`` are the tokens to show (special tokens and padding already dropped) and each text map holds one
    score per shown token. ``normalize`` maps raw attributions to [0, 1] per map (|x|, then min-max) first.
    """
    pixels = to_rgb_array(image, mean=mean, std=std)
    figure = new_figure(7.0, 1.6 * len(maps))
    axes = figure.subplots(len(maps), 2, squeeze=False, gridspec_kw={"width_ratios": [3, 1]})
    for (text_axis, image_axis), (method, parts) in zip(axes, maps.items(), strict=True):
        scores = to_numpy(parts[TextModality.name])
        if normalize:
            scores = abs(scores)
            spread = scores.max() - scores.min()
            scores = (scores - scores.min()) / spread if spread > 0 else scores * 0
        text_axis.axis("off")
        text_axis.set_title(method, loc="left", fontsize=9)
        x, y = 0.0, 0.7
        for token, score in zip(tokens, scores, strict=True):
            width = 0.025 * (len(token) + 2)  # roughly one character width per 0.025 of the axis
            if x > 0 and x + width > 1.0:  # wrap long captions instead of running into the image
                x, y = 0.0, y - 0.3
            colour = tuple(channel / 255 for channel in score_to_rgb(score))
            text_axis.text(x, y, token, fontsize=10, bbox={"facecolor": colour, "edgecolor": "none"})
            x += width
        image_axis.imshow(overlay(pixels, parts[ImageModality.name], normalize=normalize))
        image_axis.axis("off")
    if title is not None:
        figure.suptitle(title)
    save_png(figure, path)
    return figure
