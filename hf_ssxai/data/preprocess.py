"""Turn standardized raw-input columns (``text``, ``image``, ...) into model inputs with the classifier's processor.

The work is the modality's (:meth:`~hf_ssxai.modalities.Modality.preprocess`); this picks the modality from the
columns a dataset has, for callers that hold data and a processor but no model.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from ..modalities import modality_for_columns


def preprocess(dataset: Dataset, processor: Any, *, max_length: int | None = None, batch_size: int = 256) -> Dataset:
    """Raw texts, images or both -> model inputs, by the modality whose raw-input columns the dataset has.

    Text is truncated to ``max_length`` and not padded (pad per batch with ``DataCollatorWithPadding``); images are
    converted to the mode the processor normalizes for (greyscale or RGB) first. Text-image data (a
    :class:`~hf_ssxai.fusion.FusionProcessor`) is padded to ``max_length``, which it then requires: the stacked
    batches of text-image training need one length.
    """
    modality = modality_for_columns(dataset.column_names)
    return modality.preprocess(dataset, processor, max_length=max_length, batch_size=batch_size)
