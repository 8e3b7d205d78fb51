"""Visualizations of attribution maps: token heat-maps (HTML, terminal), image overlays (PNG), radar plots.

Everything here is a pure function drawing with matplotlib's Agg canvas; pyplot and its global
backend are never touched.
"""

from ..modalities.words import token_to_word_scores, word_scores, word_spans, words_from_offsets
from .image import method_grid, overlay, save_overlay, to_rgb_array
from .radar import radar_plot, rescale_results
from .text import html_page, score_to_rgb, tokens_to_html, tokens_to_terminal
from .text_image import caption_and_overlay

__all__ = [
    "caption_and_overlay",
    "html_page",
    "method_grid",
    "overlay",
    "radar_plot",
    "rescale_results",
    "save_overlay",
    "score_to_rgb",
    "to_rgb_array",
    "token_to_word_scores",
    "tokens_to_html",
    "tokens_to_terminal",
    "word_scores",
    "word_spans",
    "words_from_offsets",
]
