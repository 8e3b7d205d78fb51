"""Text evidence as users have it (spans, character offsets, words, token masks) -> one 0/1 mask per text over its
tokens, under the tokenization the metrics use.

Spans, offsets and words become character ranges of the text, and a token is evidence when any of its characters
(the fast tokenizer's offsets) lies in a range. The texts are tokenized as the model's inputs are: truncated to the
same length, special tokens included, not padded. So the masks line up with the model's tokens, whatever the
tokenizer does to words (sub-words, lower case, accents, punctuation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import InvalidInputError
from .evidence import AUTO, EvidenceReading, decode_cell, feature_flags, quote, row_error

#: the kinds of text evidence, as ``evidence_format`` names them
TEXT_EVIDENCE_FORMATS = ("span", "offsets", "words", "mask")
#: what a text row may hold, for messages
TEXT_EVIDENCE = (
    "a text span (a substring of the text) or a list of them, character offsets [[start, end], ...], words "
    "(evidence_format='words') or a token mask (one 0/1 per token, special tokens included) or a token position"
)
#: how to write several spans or words, for messages
LIST_FIX = 'In a CSV cell, write a list as JSON: ["great acting", "a dull plot"].'
#: for text that looks like a list but is no JSON (pandas and datasets write numpy's repr into CSV cells)
NOT_JSON = (
    'If it is meant as a list: a list in a CSV cell must be JSON, e.g. [[4, 9]] or ["great", "acting"] (write it '
    "with json.dumps; the to_csv of pandas and datasets writes numpy's repr, which is not JSON)."
)


def text_evidence_kind(value: Any, evidence_format: str, column: Any, row: int) -> str:
    """Which kind of evidence a row holds: ``evidence_format`` itself, or read off the value when it is ``auto``."""
    if evidence_format != AUTO:
        return evidence_format
    if isinstance(value, str):
        return "span"
    if isinstance(value, list) and value and all(isinstance(entry, str) for entry in value):
        raise row_error(
            column,
            row,
            "one kind of evidence",
            "a list of strings, which can be text spans or words",
            "Say which: evidence_format='span' or 'words' (command line: --evidence-format span or words).",
        )
    if isinstance(value, list) and all(isinstance(entry, (list, tuple)) for entry in value):
        return "offsets"  # an empty list too: a row without evidence
    return "mask"


def _find(text: str, piece: str, cursor: int, words: bool) -> int:
    """Where ``piece`` starts in ``text`` at or after ``cursor`` (a whole word when ``words``), or -1."""
    if not words:
        return text.find(piece, cursor)
    match = re.compile(rf"(?<!\w){re.escape(piece)}(?!\w)").search(text, cursor)
    return match.start() if match else -1


def _pieces(value: Any, kind: str, column: Any, row: int) -> list[str]:
    """The spans or words of a row: a string is one span (or whitespace-separated words), a list one per entry."""
    if isinstance(value, str):
        return value.split() if kind == "words" else [value]
    if not isinstance(value, list) or not all(isinstance(piece, str) for piece in value):
        expected = "words (a list of strings)" if kind == "words" else "a text span or a list of spans"
        raise row_error(column, row, expected, quote(value), LIST_FIX)
    for piece in value:
        if not piece.strip():
            raise row_error(column, row, f"non-blank {kind}s", f"a blank {kind} {piece!r}")
        if kind == "words" and len(piece.split()) > 1:
            raise row_error(column, row, "single words", f"{piece!r}", "Give its words one by one, or use spans.")
    return value


def matched_ranges(text: str, value: Any, kind: str, column: Any, row: int) -> list[tuple[int, int]]:
    """Character ranges of a row's spans or words, matched exactly and in reading order: each one at its first
    occurrence after the previous one (words: as whole words, not inside a longer word)."""
    ranges, cursor, words = [], 0, kind == "words"
    kinds = "words" if words else "spans"
    for piece in _pieces(value, kind, column, row):
        start = _find(text, piece, cursor, words)
        if start < 0:
            earlier = _find(text, piece, 0, words) >= 0
            if earlier:
                found, fix = f"{piece!r}, which occurs only before the previous one", "Give them in reading order."
            else:
                case = " (it does, ignoring case)" if _find(text.lower(), piece.lower(), 0, words) >= 0 else ""
                found = f"{piece!r}, which is not in the text{case}: {quote(text)}"
                fix = "Matching is exact (case, spaces, punctuation); character offsets [[start, end], ...] are too."
                if piece.lstrip().startswith("["):
                    fix = NOT_JSON
            whole = " as whole words" if words else ""
            raise row_error(column, row, f"{kinds} that occur in the text{whole}, in reading order", found, fix)
        ranges.append((start, start + len(piece)))
        cursor = start + len(piece)
    return ranges


def offset_ranges(text: str, value: Any, column: Any, row: int) -> list[tuple[int, int]]:
    """Character ranges given as ``[[start, end], ...]``, each checked against the text's length."""
    expected = f"character offsets [[start, end], ...] with 0 <= start < end <= {len(text)} (the text's length)"
    if not isinstance(value, list):
        raise row_error(column, row, expected, quote(value))
    ranges = []
    for pair in value:
        if not (
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in pair)
            and 0 <= pair[0] < pair[1] <= len(text)
        ):
            raise row_error(column, row, expected, f"{quote(pair)} in {quote(value)}")
        ranges.append((pair[0], pair[1]))
    return ranges


def ranges_to_tokens(
    text: str,
    ranges: list[tuple[int, int]],
    offsets: Sequence[tuple[int, int]],
    features: Sequence[bool],
    truncated: bool,
    column: Any,
    row: int,
) -> tuple[list[int], bool]:
    """``(mask, cut)``: a token is evidence when one of its characters lies in a range; ``cut`` when truncation
    dropped characters of a range. A range inside the kept text that covers no token is refused."""

    def overlaps(token: tuple[int, int], span: tuple[int, int]) -> bool:
        return token[1] > token[0] and token[0] < span[1] and token[1] > span[0]

    tokens = [token for token, feature in zip(offsets, features, strict=True) if feature]
    kept_end = max((token[1] for token in tokens), default=0) if truncated else len(text)
    for span in ranges:
        if span[0] < kept_end and not any(overlaps(token, span) for token in tokens):
            raise row_error(
                column,
                row,
                "evidence that covers at least one token",
                f"characters {span[0]}..{span[1]} ({text[span[0] : span[1]]!r}), which no token covers",
            )
    flags = [
        int(feature and any(overlaps(token, span) for span in ranges))
        for token, feature in zip(offsets, features, strict=True)
    ]
    return flags, any(span[1] > kept_end for span in ranges)


def text_evidence_masks(
    texts: Sequence[str], values: Sequence[Any], tokenizer: Any, reading: EvidenceReading
) -> tuple[list[list[int]], list[int]]:
    """``(masks, cut rows)``: per text a 0/1 mask over the tokens of ``tokenizer(text, truncation=True,
    max_length=reading.max_length)`` (special tokens included, no padding), and the rows whose evidence truncation
    cut."""
    rows, column, evidence_format = reading.rows(len(texts)), reading.column, reading.evidence_format
    if not texts:
        return [], []
    for text, row in zip(texts, rows, strict=True):
        if not isinstance(text, str):
            raise InvalidInputError(f"Row {row}: text evidence is read against the row's text; got {quote(text)}.")
    fast = bool(getattr(tokenizer, "is_fast", False))
    encoding = tokenizer(
        list(texts),
        truncation=True,
        max_length=reading.max_length,
        return_special_tokens_mask=True,
        return_offsets_mapping=fast,
    )
    masks, cut_rows = [], []
    for index, (text, value, row) in enumerate(zip(texts, values, rows, strict=True)):
        value = decode_cell(value)
        if value is None:
            raise row_error(column, row, TEXT_EVIDENCE, "an empty cell", "Write [] for a row without evidence.")
        features = [not special for special in encoding["special_tokens_mask"][index]]
        kind = text_evidence_kind(value, evidence_format, column, row)
        if kind == "mask":
            flags = feature_flags(value, torch.tensor(features), column, row, "token")
            if flags is None:
                raise row_error(column, row, TEXT_EVIDENCE, quote(value), LIST_FIX)
            masks.append(flags.int().tolist())
            continue
        if not fast:
            raise InvalidInputError(
                f"Evidence column {column!r} holds {kind}: mapping it to tokens needs a fast tokenizer (character "
                f"offsets); got {type(tokenizer).__name__}. Save the model with a fast tokenizer, or give token masks."
            )
        if kind == "offsets":
            ranges = offset_ranges(text, value, column, row)
        else:
            ranges = matched_ranges(text, value, kind, column, row)
        truncated = bool(encoding.encodings[index].overflowing)
        flags, cut = ranges_to_tokens(text, ranges, encoding["offset_mapping"][index], features, truncated, column, row)
        masks.append(flags)
        if cut:
            cut_rows.append(row)
    return masks, cut_rows
