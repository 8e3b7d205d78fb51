"""Human rationales as users have them, as masks over the features a model sees: for the rationale metrics.

The benchmark reads an evidence column through :func:`hf_ssxai.benchmark.prepare_dataset`; this is the same reading
for inputs and rationales held in Python, e.g. to feed the ``rationale_auprc``, ``rationale_f1`` and
``rationale_coverage`` modules of :mod:`hf_ssxai.metrics` with maps from the model or the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..data.preprocess import truncation_length
from ..errors import InvalidInputError
from ..modalities.evidence import AUTO, EvidenceReading, check_format
from ..modeling import AutoModelWithScorer


def evidence_masks(
    model: AutoModelWithScorer, inputs: Sequence[Any], evidence: Sequence[Any], *, evidence_format: str = AUTO
) -> list[torch.Tensor]:
    """One boolean mask per input over the features the model sees, from each input's evidence as the user has it.

    Text (``inputs`` are strings): a span of the text or a list of spans, character offsets ``[[start, end], ...]``,
    words (``evidence_format="words"``) or a token mask; the mask has one entry per token of
    ``model.processor(text, truncation=True, max_length=truncation_length(model))``, special tokens included (never
    marked), no padding: the tokens of the model's attributions for that text. Images (``inputs`` are PIL images):
    boxes ``[x0, y0, x1, y1]`` at the image's own size or a pixel mask; the mask is ``[height, width]`` at the
    processed size. Every row is checked on its own (:class:`InvalidInputError` naming the row).

    Example::

        masks = evidence_masks(model, ["a truly great film"], ["truly great"])  # tensor([F, F, T, T, F, F])
    """
    if len(inputs) != len(evidence):
        raise InvalidInputError(f"Got {len(inputs)} inputs but {len(evidence)} rows of evidence: give one per input.")
    modality = model.modality
    if len(modality.parts) > 1:
        raise InvalidInputError(
            f"{modality.description.capitalize()} model has evidence per modality: read it with "
            "hf_ssxai.benchmark.prepare_dataset(model, dataset, columns, evidence_column={modality: column, ...})."
        )
    check_format(evidence_format, modality.evidence_formats, modality.description)
    if model.processor is None:
        raise InvalidInputError("The model has no tokenizer or image processor to map evidence with; save it with one.")
    reading = EvidenceReading("evidence", evidence_format, max_length=truncation_length(model))
    masks, _ = modality.evidence_to_masks(list(inputs), list(evidence), model.processor, reading)
    return [torch.as_tensor(mask, dtype=torch.bool) for mask in masks]
