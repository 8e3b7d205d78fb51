"""Samples, batches and evidence masks: from a prepared dataset to the model inputs every method explains.

What differs between modalities (padding text per batch, stacking pixels, aligning token evidence with padding) is
the modality's own (:meth:`~hf_ssxai.modalities.Modality.collate`, :meth:`~hf_ssxai.modalities.Modality.evidence_mask`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, Value

from ..errors import InvalidInputError
from ..modalities import EvidenceReading
from ..modeling import AutoModelWithScorer

#: dataset columns passed to the classifier besides its main input (``input_ids``, ``pixel_values``), when present
OPTIONAL_INPUTS = ("attention_mask", "token_type_ids", "special_tokens_mask", "pixel_values")


def draw_samples(size: int, num_samples: int | None, seed: int = 0) -> list[int]:
    """Rows to evaluate: all ``size`` rows, or ``num_samples`` of them drawn at random with ``seed`` (in row order)."""
    if size < 1 or (num_samples is not None and num_samples < 1):
        raise InvalidInputError(f"Nothing to evaluate: {size} rows available, num_samples={num_samples}.")
    if num_samples is None or num_samples >= size:
        return list(range(size))
    return sorted(np.random.default_rng(seed).choice(size, num_samples, replace=False).tolist())


def require_columns(dataset: Dataset, columns: Sequence[str | None], role: str) -> None:
    """Raise :class:`InvalidInputError`, naming the available columns, if one of ``columns`` (None: skip) is missing."""
    missing = [column for column in columns if column is not None and column not in dataset.column_names]
    if missing:
        raise InvalidInputError(
            f"No column {', '.join(map(repr, missing))} ({role}) in the dataset; available columns: "
            f"{', '.join(dataset.column_names)}."
        )


def model_input_columns(model: AutoModelWithScorer, dataset: Dataset, columns: Sequence[str] | None) -> list[str]:
    """The dataset columns that are model inputs: ``columns`` if given, else the main input and the optional ones."""
    if columns is None:
        main = model.classifier.main_input_name
        require_columns(dataset, [main], "the classifier's main input; prepare the dataset with its processor")
        return [main, *(name for name in OPTIONAL_INPUTS if name in dataset.column_names and name != main)]
    require_columns(dataset, columns, "input_columns")
    return list(columns)


def formatted(model: AutoModelWithScorer, dataset: Dataset) -> Dataset:
    """The dataset in the format its modality collates from (text: Python lists, padded per batch; else tensors)."""
    return dataset.with_format(model.modality.dataset_format)


def collate(model: AutoModelWithScorer, rows: Mapping[str, Any], columns: Sequence[str]) -> dict[str, torch.Tensor]:
    """One batch of model inputs from a slice of a dataset (``rows[column]``: one entry per sample).

    Text is padded to the batch's longest sequence by the model's tokenizer (``model.processor``) or, without one,
    with the classifier config's ``pad_token_id`` (``attention_mask`` 0, ``special_tokens_mask`` 1). Other inputs
    (``pixel_values``) are stacked.
    """
    return model.modality.collate(rows, columns, model.processor, model.config)


def dataset_to_batch(
    model: AutoModelWithScorer, dataset: Dataset, input_columns: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """A whole (small) dataset as one batch of model inputs, e.g. the ``baseline_inputs`` of ``run_benchmark``."""
    columns = model_input_columns(model, dataset, input_columns)
    return collate(model, formatted(model, dataset)[:], columns)


def has_class_labels(dataset: Dataset) -> bool:
    """Whether the dataset has a ``label`` column of class indices (then the metadata reports the accuracy)."""
    feature = dataset.features.get("label")
    return isinstance(feature, ClassLabel) or (isinstance(feature, Value) and feature.dtype.startswith("int"))


def same_features(mask: Any, other: Any) -> bool:
    """Whether two feature masks (or dicts of them, one per modality) are equal."""
    if isinstance(mask, Mapping):
        return mask.keys() == other.keys() and all(torch.equal(mask[name], other[name]) for name in mask)
    return torch.equal(mask, other)


def batch_evidence(
    model: AutoModelWithScorer, rows: Mapping[str, Any], reading: EvidenceReading, feature_mask: Any
) -> torch.Tensor | dict[str, torch.Tensor]:
    """The evidence of each sample of a batch as a boolean mask over its features, checked row by row
    (``reading.row_ids`` number the batch's rows in messages); one mask per modality for a multimodal model,
    ``reading.column`` then mapping modality -> column."""
    main_input = model.classifier.main_input_name
    return model.modality.evidence_mask(rows, reading, feature_mask, model.processor, main_input)
