"""Text from users and checkpoints (method names, labels, file names, training facts) made inert where it is shown:
in HTML, in Markdown (tables, model cards) and on a terminal."""

from __future__ import annotations

import html
import re

#: characters that end a table cell or undo an escape; emphasis and links only format, so they stay readable
_MARKDOWN_ACTIVE = re.compile(r"([\\|])")


def markdown_text(value: object) -> str:
    """``value`` as Markdown text on one line that cannot change the document's structure: HTML escaped, ``|`` and
    ``\\`` backslash-escaped, newlines and other control characters shown as spaces, so a ``|`` cannot open a table
    cell, a newline cannot start a heading and ``<script>`` is text."""
    text = "".join(char if char.isprintable() else " " for char in str(value))
    return _MARKDOWN_ACTIVE.sub(r"\\\1", html.escape(text, quote=False))


def terminal_text(value: object) -> str:
    """``value`` safe to print on a terminal: every non-printable character (ESC, BEL, OSC introducers, C1 controls,
    bidirectional overrides) shown as its Python escape, so text cannot move the cursor, retitle the window or hide
    itself."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in str(value))


def html_text(value: object) -> str:
    """``value`` as literal HTML text (safe in attributes too), with non-printable characters shown as their Python
    escapes, so a page printed to a terminal carries no control sequence either."""
    return html.escape(terminal_text(value), quote=True)


def terminal_json(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with every non-printable character in its strings written
    as a ``\\u`` escape (``json`` escapes only those below U+0020); the layout's newlines stay."""
    return "".join(char if char.isprintable() or char == "\n" else _json_escape(char) for char in text)


def _json_escape(char: str) -> str:
    encoded = char.encode("utf-16-be")  # characters beyond U+FFFF become a surrogate pair, as JSON writes them
    return "".join(f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))
