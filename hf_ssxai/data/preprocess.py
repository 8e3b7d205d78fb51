"""Turn standardized raw-input columns (``text``, ``image``, ...) into model inputs with the classifier's processor.

The work is the modality's (:meth:`~hf_ssxai.modalities.Modality.preprocess`); this picks the modality from the
columns a dataset has, for callers that hold data and a processor but no model. :func:`truncation_length` is the one
place that says how long a model's texts may be.
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


def truncation_length(model: Any, processor: Any = None) -> int | None:
    """The length, in tokens, a model's texts are truncated to (None: not bounded, e.g. images).

    The shorter of its tokenizer's ``model_max_length`` and the classifier's position embeddings. A training recipe
    sets the saved tokenizer's ``model_max_length`` to the ``max_length`` it trained with, so the benchmark, the
    pipeline, ``hf-ssxai explain`` and anything else that calls this truncate as training did. ``processor``
    replaces the model's own (as the pipeline allows).
    """
    return model.modality.input_length_limit(processor if processor is not None else model.processor, model.config)
