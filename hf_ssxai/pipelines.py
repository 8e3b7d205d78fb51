"""Explain raw inputs in one call: ``pipeline("user/repo")("a great movie")``.

The pipeline tokenizes texts (padded per batch, truncated to the model's maximum length) or processes images
(converted to the mode the processor expects), or both for (text, image) pairs of a text-image model, runs
:class:`AutoModelWithScorer` under ``torch.inference_mode`` in batches, and returns plain results: the predicted
label and its probability, and the explanation as tokens and words with their scores (text), as a map at the
processed and at the original size (images), or as both, one part per modality (text-image).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from transformers import BatchEncoding

from .data.preprocess import image_mode, model_max_length
from .errors import InvalidInputError
from .modeling import AutoModelWithScorer
from .visualization import word_scores

logger = logging.getLogger(__name__)

ImageInput = Image.Image | str | os.PathLike
#: the keys of one text-image input
PAIR_KEYS = ("text", "image")
PairInput = Mapping[str, Any]

_CLASSIFIER_KIND = {"text": "a text", "image": "an image", "text-image": "a text-image"}


def _wrong_type(item: Any, position: int, modality: str, part: str, one: str, many: str) -> InvalidInputError:
    """The error for input ``position`` (its ``part``, in a text-image pair) of the wrong type: give ``one`` (in a
    pair) or ``many`` (alone)."""
    what, give = (f"the {part} of input {position}", one) if modality == "text-image" else (f"input {position}", many)
    return InvalidInputError(
        f"This is {_CLASSIFIER_KIND[modality]} classifier: {what} is a {type(item).__name__}; give {give}."
    )


def _read_image(item: Any, mode: str, position: int, modality: str = "image") -> Image.Image:
    """Input ``position`` (or its image, for a text-image pair), a PIL image or an image file, in ``mode``."""
    if isinstance(item, Image.Image):
        return item.convert(mode)
    if not isinstance(item, (str, os.PathLike)):
        one, many = "a PIL image or an image path", "a PIL image, an image path or a list of them"
        raise _wrong_type(item, position, modality, "image", one, many)
    try:
        with Image.open(item) as image:
            return image.convert(mode)
    except OSError as error:  # missing file, not an image, truncated file
        raise InvalidInputError(
            f"Cannot read the image {os.fspath(item)!r} (input {position}): {error}. Give a readable image file."
        ) from error


def _check_texts(texts: Sequence[Any], offset: int, modality: str = "text") -> None:
    """Every text is a non-blank string, or :class:`InvalidInputError` naming the first that is not."""
    for position, text in enumerate(texts, offset):
        if not isinstance(text, str):
            raise _wrong_type(text, position, modality, "text", "a string", "a string or a list of strings")
        if not text.strip():
            raise InvalidInputError(f"Input {position} is an empty text: give at least one word to explain.")


def _split_pairs(items: Sequence[Any], offset: int) -> tuple[list[Any], list[Any]]:
    """The texts and the images of text-image inputs, each a dict ``{"text": ..., "image": ...}``."""
    expected = "give {'text': caption, 'image': image} or a list of such dicts"
    texts, images = [], []
    for position, item in enumerate(items, offset):
        if not isinstance(item, Mapping):
            if isinstance(item, str):
                kind = "a text-only input (a string)"
            elif isinstance(item, (Image.Image, os.PathLike)):
                kind = f"an image-only input (a {'PIL image' if isinstance(item, Image.Image) else 'path'})"
            else:
                kind = f"a {type(item).__name__}"
            raise InvalidInputError(f"This is a text-image classifier: input {position} is {kind}; {expected}.")
        if unknown := sorted(repr(key) for key in item if key not in PAIR_KEYS):
            raise InvalidInputError(
                f"Input {position} has unknown key(s) {', '.join(unknown)}: a text-image input is a dict with "
                "exactly the keys 'text' and 'image'."
            )
        if missing := [key for key in PAIR_KEYS if item.get(key) is None]:
            kind = {("image",): "a text-only input", ("text",): "an image-only input"}.get(
                tuple(missing), "an input with neither text nor image"
            )
            raise InvalidInputError(
                f"This is a text-image classifier: input {position} is {kind} (no {' and no '.join(missing)}); "
                f"{expected}."
            )
        texts.append(item["text"])
        images.append(item["image"])
    return texts, images


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
        if self.modality == "text-image" and not (
            hasattr(self.processor, "tokenizer") and hasattr(self.processor, "image_processor")
        ):
            raise InvalidInputError(
                f"A text-image model needs a processor with a tokenizer and an image processor (a FusionProcessor); "
                f"got {type(self.processor).__name__}."
            )
        tokenizer = self.tokenizer
        if tokenizer is not None and not getattr(tokenizer, "is_fast", False):
            raise InvalidInputError(
                f"The pipeline needs a fast tokenizer (for word offsets and truncation); got "
                f"{type(tokenizer).__name__}. Load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
            )

    @property
    def modality(self) -> str:
        """``"text"``, ``"image"`` or ``"text-image"``."""
        return self.model.scorer_config.modality

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of a text or text-image model (None for images)."""
        if self.modality == "image":
            return None
        return self.processor.tokenizer if self.modality == "text-image" else self.processor

    @property
    def image_processor(self) -> Any:
        """The image processor of an image or text-image model (None for text)."""
        if self.modality == "text":
            return None
        return self.processor.image_processor if self.modality == "text-image" else self.processor

    def __call__(
        self, inputs: str | ImageInput | PairInput | Sequence[str | ImageInput | PairInput]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Explain one input (returns a dict) or a list of inputs (returns a list of dicts)."""
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        if not items:
            kind = {
                "text": "text",
                "image": "image (PIL image or path)",
                "text-image": "{'text': caption, 'image': image} pair",
            }[self.modality]
            raise InvalidInputError(f"Nothing to explain: the list is empty. Give at least one {kind}.")
        explain = {"text": self._explain_texts, "image": self._explain_images, "text-image": self._explain_pairs}
        results = []
        for start in range(0, len(items), self.batch_size):
            results += explain[self.modality](items[start : start + self.batch_size], start)
        return results[0] if single else results

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

    # ---------------------------------------------------------------- text
    def _max_length(self) -> int | None:
        """The longest text the tokenizer and the (text encoder's) position embeddings allow."""
        return model_max_length(self.model)

    def _encode_texts(self, texts: list[str]) -> BatchEncoding:
        limit = self._max_length()
        return self.tokenizer(
            texts,
            padding=True,
            truncation=limit is not None,
            max_length=limit,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )

    def _text_explanations(
        self,
        texts: list[str],
        encoding: BatchEncoding,
        attributions: torch.Tensor,
        feature_mask: torch.Tensor,
        offset: int,
    ) -> list[dict[str, Any]]:
        """Per text: tokens, words and their scores, the attributions over its tokens, and whether it was cut."""
        explanations = []
        for index, text in enumerate(texts):
            valid, kept = feature_mask[index], encoding["attention_mask"][index].bool()
            words, scores = word_scores(text, encoding, attributions[index], batch_index=index)
            truncated = bool(encoding.encodings[index].overflowing)
            if truncated:
                logger.warning(
                    "Input %d is longer than the model's maximum of %d tokens: it was truncated, and only its start "
                    "is explained (the result says truncated=True).",
                    offset + index,
                    self._max_length(),
                )
            explanations.append(
                {
                    "tokens": self.tokenizer.convert_ids_to_tokens(encoding["input_ids"][index][valid].tolist()),
                    "token_scores": attributions[index][valid].tolist(),
                    "words": words,
                    "word_scores": scores.tolist(),
                    "attributions": attributions[index][kept],
                    "truncated": truncated,
                }
            )
        return explanations

    def _explain_texts(self, texts: list[Any], offset: int) -> list[dict[str, Any]]:
        _check_texts(texts, offset)
        encoding = self._encode_texts(texts)
        probabilities, attributions, feature_mask = self._forward(dict(encoding))
        explanations = self._text_explanations(texts, encoding, attributions, feature_mask, offset)
        return [
            {**self._prediction(p), **explanation} for p, explanation in zip(probabilities, explanations, strict=True)
        ]

    # ---------------------------------------------------------------- images
    def _read_images(self, items: list[Any], offset: int) -> list[Image.Image]:
        mode = image_mode(self.image_processor)
        return [_read_image(item, mode, position, self.modality) for position, item in enumerate(items, offset)]

    def _pixel_values(self, images: list[Image.Image]) -> torch.Tensor:
        return self.image_processor(images, return_tensors="pt")["pixel_values"]

    @staticmethod
    def _image_explanation(attributions: torch.Tensor, image: Image.Image) -> dict[str, Any]:
        """The map at the processed resolution and, bilinearly resized, at the image's own ``[height, width]``."""
        resized = F.interpolate(
            attributions[None, None], size=(image.height, image.width), mode="bilinear", align_corners=False
        )
        return {"attributions": attributions, "map": resized[0, 0].numpy()}

    def _explain_images(self, items: list[Any], offset: int) -> list[dict[str, Any]]:
        images = self._read_images(items, offset)
        probabilities, attributions, _ = self._forward({"pixel_values": self._pixel_values(images)})
        return [
            {**self._prediction(probabilities[index]), **self._image_explanation(attributions[index], image)}
            for index, image in enumerate(images)
        ]

    # ---------------------------------------------------------------- text-image
    def _explain_pairs(self, items: list[Any], offset: int) -> list[dict[str, Any]]:
        texts, items_images = _split_pairs(items, offset)
        _check_texts(texts, offset, self.modality)
        images = self._read_images(items_images, offset)
        encoding = self._encode_texts(texts)
        probabilities, attributions, feature_mask = self._forward(
            {**encoding, "pixel_values": self._pixel_values(images)}
        )
        text_parts = self._text_explanations(texts, encoding, attributions["text"], feature_mask["text"], offset)
        return [
            {
                **self._prediction(probabilities[index]),
                "text": text_parts[index],
                "image": self._image_explanation(attributions["image"][index], image),
            }
            for index, image in enumerate(images)
        ]


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
