"""Image evidence as users have it (boxes at the image's own size, pixel masks) -> one 0/1 mask per image over the
pixels the classifier sees.

A box ``[x0, y0, x1, y1]`` is in pixels of the original image (x to the right, y down; ``x1`` and ``y1`` excluded,
as PIL crops). The boxes of a row are drawn as a mask image of the original's size, and that mask goes through the
image processor's own resizing and cropping (not its normalization), then is read back at half intensity: so the
mask lands on exactly the pixels the processed image puts there, whatever the processor does (resize, shortest edge,
centre crop).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import InvalidInputError
from .evidence import AUTO, EvidenceReading, decode_cell, feature_flags, quote, row_error

#: the kinds of image evidence, as ``evidence_format`` names them
IMAGE_EVIDENCE_FORMATS = ("boxes", "mask")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_box(value: Any) -> bool:
    """Whether ``value`` looks like one box: four numbers."""
    return isinstance(value, (list, tuple)) and len(value) == 4 and all(_is_number(v) for v in value)


def image_evidence_kind(value: Any, evidence_format: str) -> str:
    """``evidence_format``, or for ``auto`` what the value looks like: a box or a list of boxes, else a mask."""
    if evidence_format != AUTO:
        return evidence_format
    if is_box(value) or (isinstance(value, list) and value and all(is_box(entry) for entry in value)):
        return "boxes"
    return "mask"


def box_image(value: Any, size: tuple[int, int], mode: str, column: Any, row: int) -> Image.Image:
    """The boxes of a row drawn white on black, at the image's ``(width, height)``, in ``mode``."""
    width, height = size
    boxes = [value] if is_box(value) else value
    expected = f"boxes [x0, y0, x1, y1] inside the {width}x{height} image, with x0 < x1 and y0 < y1"
    if not isinstance(boxes, list):
        raise row_error(column, row, expected, quote(value))
    canvas = np.zeros((height, width), dtype=np.uint8)
    for box in boxes:
        if not (is_box(box) and 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
            raise row_error(column, row, expected, f"{quote(box)}", "Boxes are in pixels of the original image.")
        x0, y0, x1, y1 = box
        canvas[math.floor(y0) : math.ceil(y1), math.floor(x0) : math.ceil(x1)] = 255
    return Image.fromarray(canvas).convert(mode)


def processed_masks(masks: list[Image.Image], processor: Any) -> np.ndarray:
    """Mask images through the processor's geometry (no normalization), as booleans ``[n, height, width]``."""
    pixels = processor(masks, do_normalize=False, do_rescale=True, return_tensors="np")["pixel_values"]
    return np.asarray(pixels).mean(axis=1) >= 0.5


def image_evidence_masks(
    images: Sequence[Image.Image], values: Sequence[Any], processor: Any, mode: str, reading: EvidenceReading
) -> tuple[list[np.ndarray], list[int]]:
    """``(masks, lost rows)``: per image a boolean mask ``[height, width]`` over the processed pixels (the processor
    converts images to ``mode``), and the rows whose boxes resizing or cropping removed entirely."""
    rows, column, evidence_format = reading.rows(len(images)), reading.column, reading.evidence_format
    if not images:
        return [], []
    for image, row in zip(images, rows, strict=True):
        if not isinstance(image, Image.Image):
            raise InvalidInputError(f"Row {row}: image evidence is read against the row's image; got {quote(image)}.")
    decoded = [decode_cell(value) for value in values]
    kinds = [image_evidence_kind(value, evidence_format) for value in decoded]
    drawn = {
        index: box_image(value, images[index].size, mode, column, rows[index])
        for index, (value, kind) in enumerate(zip(decoded, kinds, strict=True))
        if kind == "boxes"
    }
    boxes = dict(zip(drawn, processed_masks(list(drawn.values()), processor), strict=True)) if drawn else {}
    height, width = processed_masks([Image.new(mode, images[0].size)], processor).shape[1:]
    masks, lost = [], []
    for index, (value, kind, row) in enumerate(zip(decoded, kinds, rows, strict=True)):
        if kind == "boxes":
            masks.append(boxes[index])
            if not boxes[index].any():
                lost.append(row)
            continue
        flags = feature_flags(value, torch.ones(height, width, dtype=torch.bool), column, row, "pixel")
        if flags is None:
            raise row_error(
                column,
                row,
                f"boxes [x0, y0, x1, y1] at the image's size, a 0/1 mask of shape ({height}, {width}) "
                "or a flat pixel position",
                quote(value),
            )
        masks.append(flags.numpy())
    return masks, lost
