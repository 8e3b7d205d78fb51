"""Digit-caption matching: an image of a digit beside a caption that names a number; label = match (1) or not (0).

Both modalities are needed (neither the caption nor the image alone tells the label) and the evidence is known:
the number word in the caption and the digit in the image. Digits come either from :func:`generate_digits` (drawn
in code: seven-segment strokes on noise, used by the tests) or from real MNIST with :func:`load_mnist` (the
``../shared/data/mnist`` layout; optional, nothing here needs it).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from PIL import Image
from torch.nn import functional as F

from hf_ssxai.errors import InvalidInputError

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_TEMPLATES = (
    "a picture of the number {}",
    "this image shows a {}",
    "the digit {} is written here",
    "{} is the number in this picture",
    "an image with the digit {} in it",
    "here we can see a {} on the page",
)
#: every word a caption can hold (for a word-level tokenizer)
CAPTION_WORDS = tuple(sorted({w for t in CAPTION_TEMPLATES for w in t.split() if w != "{}"} | set(NUMBER_WORDS)))
ID2LABEL = {0: "mismatch", 1: "match"}
#: seven-segment strokes per digit: a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle
SEGMENTS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")
#: MNIST pixels at or above this value count as ink (for the digit's bounding box)
INK_THRESHOLD = 80


def _segment_boxes(
    top: int, left: int, height: int, width: int, thickness: int
) -> dict[str, tuple[int, int, int, int]]:
    """Each segment's rows and columns ``(row0, row1, col0, col1)`` in a digit box."""
    middle = top + (height - thickness) // 2
    bottom, right = top + height - thickness, left + width - thickness
    return {
        "a": (top, top + thickness, left, left + width),
        "g": (middle, middle + thickness, left, left + width),
        "d": (bottom, bottom + thickness, left, left + width),
        "f": (top, middle + thickness, left, left + thickness),
        "b": (top, middle + thickness, right, right + thickness),
        "e": (middle, bottom + thickness, left, left + thickness),
        "c": (middle, bottom + thickness, right, right + thickness),
    }


def generate_digits(
    num_samples: int, *, digits: Sequence[int] = range(10), size: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seven-segment digits drawn at a random place, size and stroke width on a noisy background.

    Returns ``(images, labels, evidence)``: grey images ``uint8 [n, size, size]``, the digits ``[n]`` and
    boolean masks of each digit's bounding box ``[n, size, size]``.
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.asarray(list(digits)), size=num_samples)
    images = rng.uniform(0, 90, size=(num_samples, size, size))
    evidence = np.zeros((num_samples, size, size), dtype=bool)
    for index, digit in enumerate(labels):
        height = int(rng.integers(size // 2, 3 * size // 4 + 1))
        width = max(3, height // 2 + int(rng.integers(0, 2)))
        thickness = 1 if height < 12 else int(rng.integers(1, 3))
        top, left = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
        boxes = _segment_boxes(top, left, height, width, thickness)
        ink = rng.uniform(200, 255)
        for segment in SEGMENTS[digit]:
            r0, r1, c0, c1 = boxes[segment]
            images[index, r0:r1, c0:c1] = ink
        evidence[index, top : top + height, left : left + width] = True
    return images.astype(np.uint8), labels.astype(np.int64), evidence


def load_mnist(directory: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from a local folder laid out as ``../shared/data/mnist``: ``(images uint8 [n, 28, 28], labels [n])``.

    ``test``: ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``; ``train``: the PNG batches in
    ``train_png/`` (3,000 images of 784 pixels per row block) with ``train-labels-idx1-ubyte.gz``.
    """
    directory = Path(directory)
    prefix = {"test": "t10k", "train": "train"}.get(split)
    if prefix is None:
        raise InvalidInputError(f"MNIST split must be 'test' or 'train', got {split!r}.")
    labels_file = directory / f"{prefix}-labels-idx1-ubyte.gz"
    if not labels_file.is_file():
        raise InvalidInputError(
            f"No MNIST labels at {labels_file}; point to a folder laid out as ../shared/data/mnist."
        )
    with gzip.open(labels_file) as handle:
        labels = np.frombuffer(handle.read(), dtype=np.uint8, offset=8).astype(np.int64)
    if split == "test":
        with gzip.open(directory / "t10k-images-idx3-ubyte.gz") as handle:
            images = np.frombuffer(handle.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    else:
        batches = sorted((directory / "train_png").glob("mnist_batch_*.png"), key=lambda p: int(p.stem.split("_")[-1]))
        images = np.concatenate([np.asarray(Image.open(p)).reshape(-1, 28, 28) for p in batches])
    return images, labels[: len(images)]


def ink_boxes(images: np.ndarray, threshold: int = INK_THRESHOLD) -> np.ndarray:
    """Boolean masks of the bounding box of each image's ink (pixels at or above ``threshold``)."""
    evidence = np.zeros(images.shape, dtype=bool)
    for index, image in enumerate(images):
        rows, cols = np.nonzero(image >= threshold)
        if len(rows):
            evidence[index, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    return evidence


def digit_caption_pairs(
    images: np.ndarray,
    digits: np.ndarray,
    evidence: np.ndarray,
    *,
    seed: int = 0,
    num_samples: int | None = None,
    match_rate: float = 0.5,
) -> Dataset:
    """Pair digit images with captions: with probability ``match_rate`` the caption names the image's digit
    (label 1), else another digit among those present (label 0).

    Columns: ``text``, ``image`` (grey ``uint8`` arrays), ``label``, ``digit``, ``caption_digit``, ``number_word``
    (the number word's index among the caption's words) and ``evidence`` (the digit's box, at image resolution).
    """
    rng = np.random.default_rng(seed)
    count = len(images) if num_samples is None else num_samples
    chosen = rng.permutation(len(images))[:count] if count <= len(images) else rng.integers(len(images), size=count)
    present = np.unique(digits)
    if len(present) < 2:
        raise InvalidInputError("Digit-caption pairs need images of at least two different digits for mismatches.")
    texts, labels, caption_digits, word_positions = [], [], [], []
    for index in chosen:
        digit = int(digits[index])
        match = bool(rng.random() < match_rate)
        named = digit if match else int(rng.choice(present[present != digit]))
        template = CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))]
        texts.append(template.format(NUMBER_WORDS[named]))
        word_positions.append(template.split().index("{}"))
        labels.append(int(match))
        caption_digits.append(named)
    return Dataset.from_dict(
        {
            "text": texts,
            "image": images[chosen],
            "label": labels,
            "digit": digits[chosen],
            "caption_digit": caption_digits,
            "number_word": word_positions,
            "evidence": evidence[chosen],
        }
    )


def encode_digit_captions(pairs: Dataset, processor: Any, max_length: int | None = None) -> Dataset:
    """Model inputs for ``pairs`` through a text-image processor (e.g. :class:`~hf_ssxai.fusion.FusionProcessor`).

    Adds ``input_ids``, ``attention_mask`` (padded to ``max_length``, else to the longest caption),
    ``pixel_values`` (grey images as RGB), ``evidence_tokens`` (the number word's tokens) and ``evidence_pixels``
    (the digit's box at the processor's resolution). The caption and image columns are dropped.
    """
    texts = list(pairs["text"])
    images = [np.repeat(np.asarray(image, dtype=np.uint8)[..., None], 3, axis=-1) for image in pairs["image"]]
    padding = {"padding": "max_length", "max_length": max_length} if max_length else {"padding": "longest"}
    encoded = processor(text=texts, images=images, **padding)
    words = processor.tokenizer(texts, truncation=True, **padding)
    evidence_tokens = torch.tensor(
        [[word == position for word in words.word_ids(i)] for i, position in enumerate(pairs["number_word"])]
    )
    boxes = torch.as_tensor(np.asarray(pairs["evidence"]), dtype=torch.float32)[:, None]
    evidence_pixels = F.interpolate(boxes, size=encoded["pixel_values"].shape[-2:], mode="nearest")[:, 0] > 0.5
    columns = {name: encoded[name] for name in encoded}
    columns.update({"evidence_tokens": evidence_tokens, "evidence_pixels": evidence_pixels})
    kept = pairs.remove_columns(["text", "image", "evidence"])
    for name, values in columns.items():
        kept = kept.add_column(name, values.tolist())
    return kept.with_format("torch")
