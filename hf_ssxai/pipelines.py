"""Explain raw inputs in one call: ``pipeline("user/repo")("a great movie")``.

The pipeline tokenizes texts (padded per batch, truncated to the model's maximum length) or processes images
(converted to the mode the processor expects), or both for (text, image) pairs of a text-image model, runs
:class:`AutoModelWithScorer` under ``torch.inference_mode`` in batches, and returns plain results: the predicted
label and its probability, and the explanation as tokens and words with their scores (text), as a map at the
processed and at the original size (images), or as both, one part per modality (text-image).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image

from .data.preprocess import truncation_length
from .errors import InvalidInputError
from .modalities import Modality
from .modeling import AutoModelWithScorer

ImageInput = Image.Image | str | os.PathLike
PairInput = Mapping[str, Any]


def _to_cpu(value: torch.Tensor | dict[str, torch.Tensor], *, floating: bool) -> Any:
    """``value`` (or each value of a dict, one per modality) on the CPU, as float32 when ``floating``."""
    if isinstance(value, dict):
        return {name: _to_cpu(part, floating=floating) for name, part in value.items()}
    return (value.float() if floating else value).cpu()


class ExplanationPipeline:
    """Predict and explain raw texts, images or (text, image) pairs with an :class:`AutoModelWithScorer`; build
    it with :func:`pipeline`.

    Call it with one input (a result dict) or a list (a list of result dicts, in order). Text results hold
    ``label``, ``score`` (the predicted label's softmax probability), ``tokens`` and ``token_scores`` (special
    tokens and padding excluded), ``words`` and ``word_scores`` (sub-token scores summed per word, the top word at
    1), ``attributions`` (a float tensor over the text's tokens as the model saw them, special tokens scoring 0)
    and ``truncated``. Image results hold ``label``, ``score``, ``attributions`` (a ``[H, W]`` float tensor at the
    processed resolution) and ``map`` (a float numpy array resized to the original image's ``[height, width]``).
    A text-image input is a dict ``{"text": caption, "image": image}``; its result holds ``label``, ``score``,
    ``text`` (the fields of a text result but the prediction) and ``image`` (those of an image result).
    """

    def __init__(self, model: AutoModelWithScorer, processor: Any = None, *, batch_size: int = 8):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.model = model.eval()
        self.processor = processor if processor is not None else model.processor
        self.batch_size = batch_size
        if self.processor is None:
            raise InvalidInputError(
                "The model has no tokenizer or image processor. Save it with one (from_classifier(..., "
                "processor=...)) or pass pipeline(model, processor=...)."
            )
        self._modality.check_processor(self.processor)

    @property
    def modality(self) -> str:
        """The model's modality: ``"text"``, ``"image"``, ``"text-image"`` (or another registered one)."""
        return self._modality.name

    @property
    def _modality(self) -> Modality:
        return self.model.modality

    def __call__(
        self, inputs: str | ImageInput | PairInput | Sequence[str | ImageInput | PairInput]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Explain one input (returns a dict) or a list of inputs (returns a list of dicts)."""
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        if not items:
            kind = self._modality.input_description
            raise InvalidInputError(f"Nothing to explain: the list is empty. Give at least one {kind}.")
        results = []
        for start in range(0, len(items), self.batch_size):
            results += self._explain(items[start : start + self.batch_size], start)
        return results[0] if single else results

    def _explain(self, items: list[Any], offset: int) -> list[dict[str, Any]]:
        """One batch: the modality prepares the raw inputs, the model predicts and explains, the modality shapes
        each explanation; the prediction (label and probability) is added here."""
        modality = self._modality
        limit = truncation_length(self.model, self.processor)
        inputs, context = modality.prepare_inputs(items, self.processor, offset, limit)
        probabilities, attributions, feature_mask = self._forward(inputs)
        explanations = modality.explanations(context, attributions, feature_mask, offset, limit)
        return [
            {**self._prediction(p), **explanation} for p, explanation in zip(probabilities, explanations, strict=True)
        ]

    def _forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any, Any]:
        """Probabilities, attributions and feature mask of one batch, as float32 on the CPU (attributions and
        feature mask are dicts by modality for a text-image model)."""
        parameter = next(self.model.classifier.parameters())
        inputs = {
            name: value.to(parameter.device, dtype=parameter.dtype if value.is_floating_point() else None)
            for name, value in inputs.items()
        }
        with torch.inference_mode():
            out = self.model(**inputs)
        return (
            out.logits.float().softmax(-1).cpu(),
            _to_cpu(out.attributions, floating=True),
            _to_cpu(out.feature_mask, floating=False),
        )

    def _prediction(self, probabilities: torch.Tensor) -> dict[str, Any]:
        index = int(probabilities.argmax())
        return {"label": self.model.config.id2label[index], "score": float(probabilities[index])}


def pipeline(
    model: AutoModelWithScorer | str | os.PathLike,
    *,
    processor: Any = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    batch_size: int = 8,
) -> ExplanationPipeline:
    """An "explain this input" callable for a model, a checkpoint folder or a Hub repo id.

    Args:
        model: an :class:`AutoModelWithScorer` (moved, cast and put in eval mode in place) or where to load one.
        processor: tokenizer, image processor or (text-image) :class:`~hf_ssxai.fusion.FusionProcessor`; defaults
            to the one saved with the model.
        device: where to run (e.g. ``"cuda"``); by default the model stays where it is.
        dtype: cast the model, e.g. ``torch.bfloat16``. The classifier's fingerprint is checked when loading, before
            the cast, so casting never trips it; but save a model before casting it (see ``docs/hub.md``).
        batch_size: inputs run through the model at once; texts are padded per batch.

    Example::

        explain = pipeline("user/imdb-roberta-ssxai")
        explain("a great movie")  # {'label': 'POSITIVE', 'score': 0.98, 'words': [...], 'word_scores': [...], ...}

        explain = pipeline("user/caption-matching-ssxai")  # a text-image checkpoint: inputs are dicts
        explain({"text": "a dog on the beach", "image": "dog.jpg"})
        # {'label': 'MATCH', 'score': 0.91, 'text': {'words': [...], 'word_scores': [...], ...},
        #  'image': {'attributions': tensor([...]), 'map': array([...])}}
    """
    if isinstance(model, (str, os.PathLike)):
        model = AutoModelWithScorer.from_pretrained(model)
    elif not isinstance(model, AutoModelWithScorer):
        raise InvalidInputError(
            "pipeline() takes an AutoModelWithScorer, a checkpoint folder or a Hub repo id, "
            f"not {type(model).__name__}."
        )
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    return ExplanationPipeline(model, processor, batch_size=batch_size)
