"""One module per modality; each registers itself (:func:`register_modality`) when this package is imported.

A new modality is one new module here: a :class:`Modality` subclass (or :class:`SingleModality`) and one
``register_modality(MyModality())`` call; see ``docs/architecture.md``.
"""

from ..registry import MODALITY_REGISTRY
from .base import ALL_MASKED, MAP_FORMATS, Modality, ModalityCard, SingleModality, each_map, first_map
from .evidence import EvidenceReading
from .image import ImageModality
from .multimodal import MultimodalModality
from .registry import get_modality, infer_modality, modality_for_columns, register_modality
from .text import TextModality
from .text_image import TextImageModality

__all__ = [
    "ALL_MASKED",
    "MAP_FORMATS",
    "EvidenceReading",
    "MODALITY_REGISTRY",
    "ImageModality",
    "Modality",
    "ModalityCard",
    "MultimodalModality",
    "SingleModality",
    "TextImageModality",
    "TextModality",
    "each_map",
    "first_map",
    "get_modality",
    "infer_modality",
    "modality_for_columns",
    "register_modality",
]
