"""FusionProcessor: a tokenizer and an image processor behind one call that takes text and images together."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from ..errors import InvalidInputError
from ..modalities.image import open_image

#: channel counts an image array may have (grey, grey + alpha, RGB, RGBA)
IMAGE_CHANNELS = (1, 2, 3, 4)


def read_image(image: Any, index: int) -> Image.Image | np.ndarray | torch.Tensor:
    """Image ``index`` in a form image processors take, or :class:`InvalidInputError` saying why it is unreadable.

    PIL images pass as they are; file paths and encoded bytes are opened with PIL (and converted to RGB);
    arrays and tensors must be ``[H, W]`` or ``[H, W, C]`` / ``[C, H, W]`` with 1-4 channels, numeric and finite.
    """
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, os.PathLike, bytes)):
        return open_image(image, f"Image {index}")
    if isinstance(image, (np.ndarray, torch.Tensor)):
        array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else image
        shape = tuple(array.shape)
        channels_ok = array.ndim == 2 or (
            array.ndim == 3 and (shape[0] in IMAGE_CHANNELS or shape[-1] in IMAGE_CHANNELS)
        )
        if not channels_ok or 0 in shape:
            raise InvalidInputError(
                f"Image {index} has shape {shape}; an image array must be [height, width] or [height, width, "
                "channels] / [channels, height, width] with 1 to 4 channels."
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
            raise InvalidInputError(f"Image {index} has dtype {array.dtype}; image arrays must be real numbers.")
        if not np.isfinite(array).all():
            raise InvalidInputError(f"Image {index} contains NaN or Inf values.")
        return image
    raise InvalidInputError(
        f"Image {index} is a {type(image).__name__}; give PIL images, numpy arrays, torch tensors, file paths or "
        "encoded image bytes."
    )


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, Image.Image, np.ndarray, torch.Tensor, os.PathLike)):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


class FusionProcessor(ProcessorMixin):
    """Prepares (text, image) pairs for :class:`FusionForSequenceClassification`.

    ``processor(text=captions, images=images)`` tokenizes the texts (padding and truncation on by default)
    and runs the images through the image processor, one image per text; the result holds ``input_ids``,
    ``attention_mask`` (and ``token_type_ids`` when the tokenizer makes them) and ``pixel_values``.
    Missing text or images, a different number of each, and images that cannot be read raise
    :class:`~hf_ssxai.errors.InvalidInputError` naming the problem.
    """

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, **kwargs: Any):
        super().__init__(image_processor, tokenizer)

    def __call__(
        self, text: str | list[str] | None = None, images: Any = None, return_tensors: str = "pt", **text_kwargs: Any
    ) -> BatchFeature:
        """Tokenize ``text`` and process ``images`` (one per text); ``text_kwargs`` go to the tokenizer."""
        if text is None or images is None:
            missing = "text" if text is None else "images"
            raise InvalidInputError(
                f"A text-image model needs both text and images; {missing} is missing. Call "
                "processor(text=captions, images=images) with one image per caption."
            )
        texts, images = _as_list(text), _as_list(images)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("text must be a string or a list of strings.")
        if len(texts) != len(images):
            raise InvalidInputError(
                f"Got {len(texts)} text(s) and {len(images)} image(s); give exactly one image per text."
            )
        if not texts:
            raise InvalidInputError("Empty batch: give at least one (text, image) pair.")
        readable = [read_image(image, index) for index, image in enumerate(images)]
        text_kwargs = {"padding": True, "truncation": True, **text_kwargs}
        encoded = self.tokenizer(texts, return_tensors=return_tensors, **text_kwargs)
        try:
            pixels = self.image_processor(readable, return_tensors=return_tensors)
        except (ValueError, TypeError, OSError) as error:
            raise InvalidInputError(f"The image processor could not read the images: {error}") from error
        return BatchFeature({**encoded, "pixel_values": pixels["pixel_values"]}, tensor_type=return_tensors)
