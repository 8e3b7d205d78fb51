"""Datasets with planted evidence, generated in code: the label is decided by one known feature.

They let tests and the demo check that a scorer finds what actually decides the prediction,
with no download: a sentiment word among neutral words (text), a coloured square on a noisy
background (images).
"""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from ..errors import InvalidInputError
from ..modalities import TextModality

#: the column of the raw texts: the text modality's raw-input column
TEXT_COLUMN = TextModality.name

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
#: label 0 and label 1 evidence words
EVIDENCE_WORDS = (("awful", "boring", "dreadful", "terrible"), ("brilliant", "great", "superb", "wonderful"))
FILLER_WORDS = [
    "the",
    "a",
    "an",
    "this",
    "that",
    "movie",
    "film",
    "plot",
    "story",
    "actor",
    "actress",
    "scene",
    "scenes",
    "script",
    "cast",
    "director",
    "camera",
    "music",
    "score",
    "ending",
    "start",
    "middle",
    "character",
    "characters",
    "dialogue",
    "pace",
    "set",
    "sets",
    "light",
    "colour",
    "it",
    "was",
    "is",
    "were",
    "and",
    "but",
    "with",
    "of",
    "in",
    "on",
    "at",
    "for",
    "by",
    "as",
    "its",
    "their",
    "there",
    "here",
    "then",
]
#: RGB colours of the planted square, one per image class
SQUARE_COLOURS = ((1.0, 0.1, 0.1), (0.1, 1.0, 0.1), (0.1, 0.1, 1.0), (1.0, 1.0, 0.1), (1.0, 0.1, 1.0))


def build_word_tokenizer(words: list[str] | None = None, model_max_length: int = 64) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with BERT-style ``[CLS] ... [SEP]`` framing over ``words``."""
    words = list(words) if words is not None else [*FILLER_WORDS, *EVIDENCE_WORDS[0], *EVIDENCE_WORDS[1]]
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=model_max_length,
    )


def planted_text_dataset(
    tokenizer: PreTrainedTokenizerFast,
    num_samples: int,
    *,
    seed: int = 0,
    min_words: int = 4,
    max_words: int = 10,
) -> Dataset:
    """Sentences of neutral filler words with one evidence word at a random place; label = its polarity.

    Columns: ``text``, ``label``, ``input_ids``, ``attention_mask`` (padded to the longest sentence)
    and ``evidence_position`` (the token index of the evidence word).
    """
    rng = np.random.default_rng(seed)
    texts, labels, evidence_words = [], [], []
    for _ in range(num_samples):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER_WORDS, size=int(rng.integers(min_words, max_words + 1))))
        position = int(rng.integers(len(words) + 1))
        words.insert(position, str(rng.choice(EVIDENCE_WORDS[label])))
        texts.append(" ".join(words))
        labels.append(label)
        evidence_words.append(position)
    encoded = tokenizer(texts, padding="longest")
    positions = [encoded.word_ids(i).index(word) for i, word in enumerate(evidence_words)]
    return Dataset.from_dict(
        {
            TEXT_COLUMN: texts,
            "label": labels,
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "evidence_position": positions,
        }
    )


def planted_rationale_texts(num_samples: int, *, seed: int = 0, fillers: int = 6) -> Dataset:
    """Sentences of filler words with a planted two-word rationale: the label's evidence word, then a filler word
    used nowhere else in the sentence; label = the evidence word's polarity.

    The rationale is given three ways, as a user may have it: ``rationale_offsets`` (``[[start, end]]``, characters),
    ``rationale_span`` (its text) and ``rationale_words`` (its words); columns also ``text`` and ``label``.
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {
        TEXT_COLUMN: [],
        "label": [],
        "rationale_offsets": [],
        "rationale_span": [],
        "rationale_words": [],
    }
    for _ in range(num_samples):
        label = int(rng.integers(2))
        partner = str(rng.choice(FILLER_WORDS))
        others = [str(word) for word in rng.choice([w for w in FILLER_WORDS if w != partner], size=fillers)]
        position = int(rng.integers(fillers + 1))
        planted = [str(rng.choice(EVIDENCE_WORDS[label])), partner]
        before = " ".join(others[:position])
        start = len(before) + (1 if before else 0)
        span = " ".join(planted)
        rows[TEXT_COLUMN].append(" ".join([*others[:position], *planted, *others[position:]]))
        rows["label"].append(label)
        rows["rationale_offsets"].append([[start, start + len(span)]])
        rows["rationale_span"].append(span)
        rows["rationale_words"].append(planted)
    return Dataset.from_dict(rows)


def planted_image_arrays(
    num_samples: int, *, seed: int = 0, size: int = 16, square: int = 4, num_classes: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy grey images with one coloured square at a random place; label = the square's colour (one of the
    first ``num_classes`` of :data:`SQUARE_COLOURS`).

    Returns ``(pixel_values, labels, evidence)``: normalized pixels ``[n, 3, size, size]`` in [-1, 1]
    (so 0, the masking baseline, is mid-grey), int labels ``[n]`` and boolean masks of the square
    ``[n, size, size]``.
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.6, size=(num_samples, 1, size, size)).repeat(3, axis=1).astype(np.float32)
    if not 1 <= num_classes <= len(SQUARE_COLOURS):
        raise InvalidInputError(f"num_classes must lie in 1..{len(SQUARE_COLOURS)}, got {num_classes}.")
    labels = rng.integers(num_classes, size=num_samples)
    evidence = np.zeros((num_samples, size, size), dtype=bool)
    for index, label in enumerate(labels):
        top, left = rng.integers(size - square + 1, size=2)
        images[index, :, top : top + square, left : left + square] = np.asarray(SQUARE_COLOURS[label])[:, None, None]
        evidence[index, top : top + square, left : left + square] = True
    return (images - 0.5) / 0.5, labels.astype(np.int64), evidence


def planted_image_dataset(
    num_samples: int, *, seed: int = 0, size: int = 16, square: int = 4, num_classes: int = 3
) -> Dataset:
    """:func:`planted_image_arrays` as a ``datasets.Dataset`` (columns ``pixel_values``, ``label``, ``evidence``)."""
    pixel_values, labels, evidence = planted_image_arrays(
        num_samples, seed=seed, size=size, square=square, num_classes=num_classes
    )
    dataset = Dataset.from_dict({"pixel_values": pixel_values, "label": labels, "evidence": evidence})
    return dataset.with_format("torch")


def as_batch(dataset: Dataset, columns: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The given columns of a (small) dataset as one batch of tensors."""
    return {name: torch.as_tensor(np.asarray(dataset[name])) for name in columns}


def planted_text_image_dataset(
    tokenizer: PreTrainedTokenizerFast, num_samples: int, *, seed: int = 0, size: int = 16, max_length: int = 14
) -> Dataset:
    """Pairs of a planted-evidence sentence and a planted-evidence image; label = 2 x the word's polarity + the
    square's colour (red or green), so the prediction needs the evidence of both modalities.

    Columns: ``input_ids``, ``attention_mask`` (padded to ``max_length``), ``pixel_values``, ``label``,
    ``evidence_tokens`` (the evidence word's token) and ``evidence_pixels`` (the square).
    """
    text = planted_text_dataset(tokenizer, num_samples, seed=seed, max_words=max_length - 3)
    pixel_values, colours, squares = planted_image_arrays(num_samples, seed=seed + 1, size=size, num_classes=2)
    encoded = tokenizer(list(text[TEXT_COLUMN]), padding="max_length", max_length=max_length)
    evidence_tokens = np.zeros((num_samples, max_length), dtype=bool)
    evidence_tokens[np.arange(num_samples), list(text["evidence_position"])] = True
    labels = 2 * np.asarray(list(text["label"])) + colours
    columns = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "pixel_values": pixel_values,
        "label": labels,
        "evidence_tokens": evidence_tokens,
        "evidence_pixels": squares,
    }
    return Dataset.from_dict(columns).with_format("torch")
