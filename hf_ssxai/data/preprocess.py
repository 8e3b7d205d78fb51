"""Turn standardized ``text``/``image`` columns into model inputs with the classifier's own processor."""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from ..errors import InvalidInputError


def model_max_length(model: Any) -> int | None:
    """The longest text input the model's tokenizer and its classifier's (text encoder's) position embeddings both
    allow; a text-image recipe sets its tokenizer's ``model_max_length`` to the length it trained with."""
    tokenizer = getattr(model.processor, "tokenizer", model.processor)
    limits = (
        getattr(tokenizer, "model_max_length", None),
        getattr(getattr(model.config, "text_config", model.config), "max_position_embeddings", None),
    )
    limits = [limit for limit in limits if isinstance(limit, int)]
    return min(limits) if limits else None


def image_mode(processor: Any) -> str:
    """PIL mode the processor's normalization expects: one mean value means greyscale."""
    mean = getattr(processor, "image_mean", None)
    return "L" if mean is not None and len(mean) == 1 else "RGB"


def preprocess(dataset: Dataset, processor: Any, *, max_length: int | None = None, batch_size: int = 256) -> Dataset:
    """Tokenize a ``text`` column (truncating to ``max_length``) or process an ``image`` column into ``pixel_values``.

    Text is not padded here; pad per batch with ``DataCollatorWithPadding``. Images are converted to the
    mode the processor normalizes for (greyscale or RGB) before processing. Both columns together (text-image
    data, a :class:`~hf_ssxai.fusion.FusionProcessor`) give both, the text padded to ``max_length`` (required):
    the stacked batches of text-image training need one length.
    """
    if processor is None:
        raise InvalidInputError("No tokenizer or image processor: save one with the classifier or pass processor=.")
    if {"text", "image"} <= set(dataset.column_names):
        if max_length is None:
            raise InvalidInputError("Text-image data is padded to one length: set max_length (e.g. 32 for captions).")
        mode = image_mode(processor.image_processor)

        def encode_pairs(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert(mode) for image in batch["image"]]
            encoded = processor(text=batch["text"], images=images, padding="max_length", max_length=max_length)
            return {key: value.numpy() for key, value in encoded.items()}

        return dataset.map(encode_pairs, batched=True, batch_size=batch_size, remove_columns=["text", "image"])
    if "text" in dataset.column_names:

        def encode(batch: dict[str, list]) -> dict[str, Any]:
            return processor(batch["text"], truncation=True, max_length=max_length)

        return dataset.map(encode, batched=True, batch_size=batch_size, remove_columns=["text"])
    if "image" in dataset.column_names:
        mode = image_mode(processor)

        def process(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert(mode) for image in batch["image"]]
            return {"pixel_values": processor(images, return_tensors="np")["pixel_values"]}

        return dataset.map(process, batched=True, batch_size=batch_size, remove_columns=["image"])
    raise InvalidInputError(f"Nothing to preprocess: no 'text' or 'image' column in {dataset.column_names}.")
