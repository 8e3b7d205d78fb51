"""Token heat-maps: an HTML fragment or page, and ANSI-coloured terminal text.

A score in [0, 1] (values outside are clipped) sets how far a token's background moves from white
towards :data:`HIGHLIGHT`. All user text is HTML-escaped; terminal output shows control
characters as escapes, so neither can inject markup or terminal commands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InvalidInputError
from ..markup import html_text, terminal_text
from ._common import to_numpy

#: background colour of a token scoring 1 (a score of 0 is white)
HIGHLIGHT = (230, 60, 30)

_PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; line-height: 2; color: #111; background: #fff; }
.ssxai-tokens { margin-bottom: 1.5em; }
.ssxai-title { font-weight: bold; }
"""

Scores = Sequence[float] | torch.Tensor


def score_to_rgb(score: float) -> tuple[int, int, int]:
    """The background colour of ``score``: white at 0, :data:`HIGHLIGHT` at 1, linear in between; white for NaN
    (no score: the tooltip or the bracket says ``nan``)."""
    weight = float(score)
    weight = 0.0 if math.isnan(weight) else min(max(weight, 0.0), 1.0)
    red, green, blue = (round(255 + weight * (channel - 255)) for channel in HIGHLIGHT)
    return red, green, blue


def _paired(tokens: Sequence[str], scores: Scores) -> list[tuple[str, float]]:
    values = to_numpy(scores).reshape(-1).tolist()
    if len(values) != len(tokens):
        raise InvalidInputError(f"got {len(values)} scores for {len(tokens)} tokens")
    return list(zip(tokens, values, strict=True))


def tokens_to_html(tokens: Sequence[str], scores: Scores, *, title: str | None = None) -> str:
    """A self-contained HTML fragment: one span per token, coloured by its score, the score as a tooltip."""
    spans = []
    for token, score in _paired(tokens, scores):
        red, green, blue = score_to_rgb(score)
        spans.append(
            f'<span style="background-color: rgb({red}, {green}, {blue}); color: #000; padding: 0 2px; '
            f'border-radius: 3px" title="{score:.3f}">{html_text(token)}</span>'
        )
    heading = f'<div class="ssxai-title">{html_text(title)}</div>' if title is not None else ""
    return f'<div class="ssxai-tokens">{heading}{" ".join(spans)}</div>'


def html_page(sections: Sequence[str], title: str) -> str:
    """A complete HTML document (inline CSS, no external resources) around fragments from :func:`tokens_to_html`.

    ``sections`` are inserted as they are (they are HTML already); ``title`` is escaped.
    """
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html_text(title)}</title>\n<style>{_PAGE_CSS}</style>\n</head>\n"
        f"<body>\n<h1>{html_text(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def tokens_to_terminal(tokens: Sequence[str], scores: Scores, *, color: bool = True) -> str:
    """Tokens on 24-bit ANSI backgrounds following their scores, or ``token[0.87]`` when ``color`` is False."""
    parts = []
    for token, score in _paired(tokens, scores):
        shown = terminal_text(token)
        if color:
            red, green, blue = score_to_rgb(score)
            parts.append(f"\x1b[38;2;0;0;0;48;2;{red};{green};{blue}m{shown}\x1b[0m")
        else:
            parts.append(f"{shown}[{score:.2f}]")
    return " ".join(parts)
