"""Word-level views of token-level scores, for display and rationale comparison.

A word's score is the sum of its sub-token scores; special tokens and padding (word id ``None``)
are not words. Scores are then max-normalized per text, so the strongest word scores 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import BatchEncoding

from ..errors import InvalidInputError


def word_spans(word_ids: Sequence[int | None]) -> list[tuple[int, int]]:
    """Token ranges ``[start, stop)`` of the words: runs of consecutive tokens sharing a word id.

    Tokens with word id ``None`` (special tokens, padding) belong to no word and end a run, so the
    words of both texts of a pair stay apart even though their word ids restart at 0.
    """
    spans: list[tuple[int, int]] = []
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word == previous:
            spans[-1] = (spans[-1][0], position + 1)
        elif word is not None:
            spans.append((position, position + 1))
        previous = word
    return spans


def token_to_word_scores(scores: torch.Tensor | Sequence[float], word_ids: Sequence[int | None]) -> torch.Tensor:
    """Word scores ``[W]`` from token scores ``[L]``: the sum over each word's tokens, max-normalized.

    Sums are divided by the largest absolute word score: non-negative scores land in [0, 1] with the top
    word at 1, and all-zero scores stay zero.
    """
    scores = torch.as_tensor(scores).float()
    if scores.shape != (len(word_ids),):
        raise InvalidInputError(f"expected one score per token ({len(word_ids)}), got shape {tuple(scores.shape)}")
    spans = word_spans(word_ids)
    sums = torch.stack([scores[start:stop].sum() for start, stop in spans]) if spans else scores.new_zeros(0)
    peak = sums.abs().max() if spans else 0
    return sums / peak if peak > 0 else sums


def words_from_offsets(text: str, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]) -> list[str]:
    """The words of ``text`` as the user wrote them: from the first token's start to the last token's end offset."""
    if len(offsets) != len(word_ids):
        raise InvalidInputError(f"got {len(offsets)} offsets for {len(word_ids)} word ids")
    return [text[offsets[start][0] : offsets[stop - 1][1]] for start, stop in word_spans(word_ids)]


def word_scores(
    text: str, encoding: BatchEncoding, scores: torch.Tensor | Sequence[float], *, batch_index: int = 0
) -> tuple[list[str], torch.Tensor]:
    """Words of ``text`` and their normalized scores, from a fast tokenizer's encoding of that single text.

    Args:
        text: the text that was encoded (entry ``batch_index`` of the batch; text pairs are not supported).
        encoding: what a fast tokenizer returned, padded or not; offsets need not have been requested.
        scores: token scores ``[L]`` of that text, e.g. ``out.attributions[batch_index]``.
        batch_index: which text of the batch ``encoding`` holds.
    """
    if encoding.encodings is None:
        raise InvalidInputError("word_scores needs the encoding of a fast tokenizer (use_fast=True)")
    tokens = encoding.encodings[batch_index]
    return words_from_offsets(text, tokens.offsets, tokens.word_ids), token_to_word_scores(scores, tokens.word_ids)
