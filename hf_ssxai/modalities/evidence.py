"""Evidence as users have it, read and checked row by row: what every modality's evidence reading shares.

A row's evidence is one dataset cell. A CSV cell holds text, so lists are written there as JSON (``["great",
"acting"]``, ``[[4, 9]]``, ``[0, 1, 1, 0]``) and decoded here. Each modality reads the kinds of evidence it knows
(:attr:`~hf_ssxai.modalities.Modality.evidence_formats`: text spans, character offsets, words and token masks for
text; boxes and pixel masks for images) and turns every row into one mask over that row's features. Each row is
checked on its own, and a wrong row is an :class:`InvalidInputError` that names the column, the row, what was
expected and what was found: never padding, never a silent shift.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InvalidInputError

#: let each row's value say which kind of evidence it is
AUTO = "auto"
#: the longest piece of a cell a message quotes
QUOTE_LENGTH = 60


def decode_cell(value: Any) -> Any:
    """A cell with a JSON list written as text (a CSV cell) decoded; other values as they are.

    Text that starts with ``[`` but is not a JSON list stays text (a span such as ``"[laughs]"``).
    """
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def quote(value: Any) -> str:
    """A short, printable description of a cell for messages: its type and (cut) value."""
    text = repr(value)
    if len(text) > QUOTE_LENGTH:
        text = text[: QUOTE_LENGTH - 3] + "..."
    kind = "text" if isinstance(value, str) else type(value).__name__
    return f"{kind} {text}"


def row_error(column: Any, row: int, expected: str, found: str, fix: str = "") -> InvalidInputError:
    """The error for one wrong row: the column, the row, what was expected, what was found and, if given, the fix."""
    return InvalidInputError(
        f"Evidence column {column!r}, row {row}: expected {expected}; found {found}." + (f" {fix}" if fix else "")
    )


def check_format(evidence_format: str, formats: Sequence[str], description: str) -> None:
    """Raise :class:`InvalidInputError` unless ``evidence_format`` is ``"auto"`` or one of ``formats``."""
    if evidence_format != AUTO and evidence_format not in formats:
        raise InvalidInputError(
            f"evidence_format {evidence_format!r} is not one {description} classifier reads; choose {AUTO!r} or "
            f"one of {', '.join(map(repr, formats))}."
        )


@dataclass(frozen=True)
class EvidenceReading:
    """How to read one evidence column.

    Args:
        column: its name, for messages (a multimodal modality: a dict part -> column).
        evidence_format: what it holds when the values do not say (``"span"``, ``"boxes"``, ...; a multimodal
            modality: one format, or a dict part -> format); ``"auto"`` reads each row's value.
        row_ids: the numbers messages give the rows (e.g. rows of the user's split); default their positions.
        max_length: the length texts are truncated to (:func:`~hf_ssxai.data.preprocess.truncation_length`).
    """

    column: Any
    evidence_format: Any = AUTO
    row_ids: Sequence[int] | None = None
    max_length: int | None = None

    def rows(self, count: int) -> list[int]:
        """The numbers of ``count`` rows in messages."""
        if self.row_ids is None:
            return list(range(count))
        if len(self.row_ids) != count:
            raise InvalidInputError(f"Got {len(self.row_ids)} row ids for {count} rows of evidence.")
        return list(self.row_ids)


def feature_flags(value: Any, allowed: torch.Tensor, column: Any, row: int, unit: str) -> torch.Tensor | None:
    """One row's evidence as a boolean mask shaped like ``allowed`` (where the row's evidence can lie: ``[tokens]``
    or ``[height, width]``), from a flat position or a 0/1 mask of that shape (or flattened); None when the value is
    neither (the caller says what else it reads).

    Evidence where none can lie (a special token the tokenizer adds, such as [CLS] or [SEP], or padding) means the
    mask is shifted, and is refused; so is a mask of another length.
    """
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    flat, count = allowed.flatten(), allowed.numel()
    if tensor.dim() == 0 and not tensor.is_floating_point() and tensor.dtype != torch.bool:
        position = int(tensor)
        if not 0 <= position < count:
            raise row_error(column, row, f"a {unit} position in [0, {count})", f"{position}")
        flags = torch.zeros(count, dtype=torch.bool)
        flags[position] = True
    else:
        if tensor.shape == allowed.shape:
            tensor = tensor.flatten()
        if tensor.dim() != 1 or not (tensor.dtype == torch.bool or ((tensor == 0) | (tensor == 1)).all()):
            return None
        if tensor.numel() != count:
            shape = "x".join(map(str, allowed.shape))
            raise row_error(
                column,
                row,
                f"one 0/1 entry per {unit} of the row ({shape})",
                f"{tensor.numel()} entries",
                "Is the mask shifted, or made for another tokenization, truncation or image size?",
            )
        flags = tensor.bool()
    if (shifted := (flags & ~flat.cpu()).nonzero()).numel():
        raise row_error(
            column,
            row,
            "evidence on the row's own tokens or pixels",
            f"{unit} {int(shifted[0])} marked, where no evidence can be (a special token such as [CLS] or [SEP], "
            "or padding)",
            "Is the mask shifted by one?",
        )
    return flags.view(allowed.shape)
