"""One module per modality; the registry below is how the rest of the toolkit finds them."""

from __future__ import annotations

from torch import nn

from ..errors import UnsupportedClassifierError
from .base import Modality
from .image import ImageModality
from .text import TextModality
from .text_image import TextImageModality

MODALITY_REGISTRY: dict[str, Modality] = {
    "text": TextModality(),
    "image": ImageModality(),
    "text-image": TextImageModality(),
}


def get_modality(name: str) -> Modality:
    """The modality registered under ``name``."""
    try:
        return MODALITY_REGISTRY[name]
    except KeyError:
        raise UnsupportedClassifierError(
            f"Unknown modality {name!r}; known modalities: {sorted(MODALITY_REGISTRY)}."
        ) from None


def infer_modality(classifier: nn.Module) -> str:
    """Guess the modality: ``text-image`` for a classifier that takes both (``input_modalities``), else from its
    main input (``input_ids`` or ``pixel_values``)."""
    input_modalities = getattr(classifier, "input_modalities", ())
    if {"text", "image"} <= ({input_modalities} if isinstance(input_modalities, str) else set(input_modalities)):
        return "text-image"
    main_input = getattr(classifier, "main_input_name", None)
    if main_input == "input_ids":
        return "text"
    if main_input == "pixel_values":
        return "image"
    raise UnsupportedClassifierError(
        f"Cannot tell the modality of {type(classifier).__name__} (main input {main_input!r}). "
        "Pass ScorerConfig(modality='text' or 'image') explicitly, or use a transformers classifier."
    )


__all__ = [
    "MODALITY_REGISTRY",
    "ImageModality",
    "Modality",
    "TextImageModality",
    "TextModality",
    "get_modality",
    "infer_modality",
]
