"""Helpers shared by the visualization modules: array conversion and Agg-backed figures."""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text


def to_numpy(values: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor, array or nested sequence."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.array(values, dtype=np.float64)


def new_figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas, independent of pyplot and of the global backend."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | PathLike[str] | None) -> None:
    """Draw every text of ``figure`` literally (a ``$`` in a method name, title or caption never starts matplotlib's
    mathtext), then write it as a PNG at ``path`` (nothing more when ``path`` is None)."""
    for text in figure.findobj(Text):
        text.set_parse_math(False)
    if path is not None:
        figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
