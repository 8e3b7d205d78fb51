"""The grid pointing game: does a method's map for class c point at the tile that shows c?

Four images of four distinct classes are tiled into a 2x2 grid. For each tile's class the method is asked for
its map of the whole grid, and the score is the share of the map's positive attribution that falls inside that
tile: 1 is perfect, 0.25 is what a map that ignores the class gets on average. (Böhle, Fritz and Schiele used it
to evaluate B-cos networks; Walter et al. report it for class-distribution attributions.)

    grids = make_grids(pixel_values, labels, num_grids=250, seed=0)
    scores = grid_pointing_game(explainer, grids)      # [grids, 4]: one score per tile
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..errors import InvalidInputError
from ..explainers import ClassDistribution, Explainer, ScorerExplainer

TILES = 4


@dataclass
class GridBatch:
    """2x2 grids with their ground truth.

    Args:
        pixel_values: the grids, ``[grids, channels, side, side]``.
        tile_classes: the class of each tile, ``[grids, 4]`` (row-major: top-left, top-right, bottom-left,
            bottom-right); the four classes of a grid are distinct.
        tile_masks: where each tile lies, ``[grids, 4, side, side]`` booleans.
        source_indices: which input images make each grid, ``[grids, 4]``.
    """

    pixel_values: torch.Tensor
    tile_classes: torch.Tensor
    tile_masks: torch.Tensor
    source_indices: torch.Tensor

    def __len__(self) -> int:
        return len(self.pixel_values)


def make_grids(
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    num_grids: int,
    *,
    grid_size: int | None = None,
    seed: int = 0,
) -> GridBatch:
    """Tile ``num_grids`` 2x2 grids from images of four distinct classes, drawn at random from the pool.

    Args:
        pixel_values: the pool of images as the classifier takes them, ``[n, channels, height, width]``.
        labels: their classes, ``[n]``; at least four classes must be present.
        grid_size: side of a grid in pixels. None keeps every tile at the images' own size (a grid of twice
            their side, for classifiers that take any size, such as CNNs); the classifier's own input size
            suits classifiers with a fixed input size (a ViT), each tile then shrunk to half.
        seed: the draw of classes, positions and images.
    """
    if pixel_values.dim() != 4 or labels.shape != pixel_values.shape[:1]:
        raise InvalidInputError(
            f"make_grids needs pixel_values [n, channels, height, width] and labels [n]; got "
            f"{tuple(pixel_values.shape)} and {tuple(labels.shape)}."
        )
    classes = labels.unique()
    if len(classes) < TILES:
        raise InvalidInputError(
            f"A grid needs {TILES} images of distinct classes, but the pool holds only classes {classes.tolist()}."
        )
    height, width = pixel_values.shape[-2:]
    if height != width:
        raise InvalidInputError(f"make_grids tiles square images; got {height}x{width}. Resize or crop them first.")
    side = grid_size if grid_size is not None else 2 * height
    if side < 2 or side % 2:
        raise InvalidInputError(f"grid_size must be an even number of pixels (two tiles a side), got {side}.")
    tile = side // 2
    generator = torch.Generator().manual_seed(seed)
    by_class = {int(c): (labels == c).nonzero().flatten() for c in classes}
    tile_classes = torch.stack(
        [classes[torch.randperm(len(classes), generator=generator)[:TILES]] for _ in range(num_grids)]
    )
    source_indices = torch.stack(
        [
            torch.stack(
                [
                    pool[torch.randint(len(pool), (1,), generator=generator)[0]]
                    for pool in map(by_class.get, row.tolist())
                ]
            )
            for row in tile_classes
        ]
    )
    tiles = pixel_values[source_indices.flatten()]
    if tile != height:
        tiles = F.interpolate(tiles, size=(tile, tile), mode="bilinear", antialias=True, align_corners=False)
    tiles = tiles.view(num_grids, 2, 2, -1, tile, tile)  # [grids, row, column, channels, y, x]
    grids = tiles.permute(0, 3, 1, 4, 2, 5).reshape(num_grids, -1, side, side)
    tile_masks = torch.zeros(num_grids, TILES, side, side, dtype=torch.bool)
    for index in range(TILES):
        row, column = divmod(index, 2)
        tile_masks[:, index, row * tile : (row + 1) * tile, column * tile : (column + 1) * tile] = True
    return GridBatch(grids, tile_classes.long(), tile_masks, source_indices)


def tile_shares(attributions: torch.Tensor, tile_mask: torch.Tensor) -> torch.Tensor:
    """Share of each map's positive attribution inside its tile, ``[batch]``; a map with no positive
    attribution points nowhere and scores 0. NaN or Inf maps are refused."""
    if not torch.isfinite(attributions).all():
        raise InvalidInputError("The maps contain NaN or Inf; a grid pointing game score of such a map means nothing.")
    positive = attributions.clamp(min=0).flatten(1)
    total = positive.sum(dim=1)
    inside = (positive * tile_mask.flatten(1)).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp(min=torch.finfo(total.dtype).tiny), torch.zeros_like(total))


def grid_pointing_game(explainer: Explainer, grids: GridBatch, *, batch_size: int = 16) -> torch.Tensor:
    """Scores ``[grids, 4]``: for each tile, the share of the map for that tile's class that falls inside it.

    Each grid is explained once per tile (four targets), ``batch_size`` maps per call.
    """
    if not isinstance(explainer, Explainer):
        raise InvalidInputError(
            f"grid_pointing_game needs an explainer (see get_explainer), got {type(explainer).__name__}."
        )
    device = explainer.model.device
    repeated = grids.pixel_values.repeat_interleave(TILES, dim=0)
    targets = grids.tile_classes.flatten()
    masks = grids.tile_masks.flatten(0, 1)
    scores = []
    for start in range(0, len(repeated), batch_size):
        chunk = slice(start, start + batch_size)
        out = explainer.attribute({"pixel_values": repeated[chunk].to(device)}, target=targets[chunk].to(device))
        scores.append(tile_shares(out.attributions.float().cpu(), masks[chunk]))
    return torch.cat(scores).view(len(grids), TILES)


@dataclass
class GridPointingGameResult:
    """Per-tile scores of every method (``values[method]``, ``[grids * 4]`` flattened) and the setup."""

    values: dict[str, list[float]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and standard deviation of each method's scores."""
        return {
            name: {"mean": float(torch.tensor(v).mean()), "std": float(torch.tensor(v).std(unbiased=False))}
            for name, v in self.values.items()
        }

    def to_markdown(self) -> str:
        """One row per method: mean ± std of the share inside the right tile (the best in bold)."""
        summary = self.summary()
        best = max(s["mean"] for s in summary.values())
        lines = ["| method | grid pointing game ↑ |", "|---|---|"]
        for name, stats in summary.items():
            cell = f"{stats['mean']:.3f} ± {stats['std']:.3f}"
            bold = f"{stats['mean']:.3f}" == f"{best:.3f}"
            lines.append(f"| {name} | {f'**{cell}**' if bold else cell} |")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None, title: str = "grid pointing game") -> Figure:
        """Horizontal bars of the mean score per method, the 0.25 of a class-blind map marked."""
        summary = self.summary()
        figure = Figure(figsize=(9, 1.2 + 0.28 * len(summary)), layout="constrained")
        axes = figure.subplots()
        names = list(summary)[::-1]
        axes.barh(names, [summary[n]["mean"] for n in names], xerr=[summary[n]["std"] for n in names], color="tab:blue")
        axes.axvline(0.25, color="grey", linestyle="--", linewidth=1, label="class-blind (0.25)")
        axes.set_xlim(0, 1)
        axes.set_xlabel("share of positive attribution in the right tile")
        axes.set_title(title)
        axes.legend(fontsize="small", loc="lower right")
        if path is not None:
            figure.savefig(path, dpi=120)
        return figure

    def to_json(self, path: str | Path) -> None:
        data = {"summary": self.summary(), "values": self.values, "metadata": self.metadata}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> GridPointingGameResult:
        data = json.loads(Path(path).read_text())
        return cls(data["values"], data.get("metadata", {}))


def run_grid_pointing_game(
    explainers: Mapping[str, Explainer],
    grids: GridBatch,
    *,
    batch_size: int = 16,
    class_distribution: bool = False,
) -> GridPointingGameResult:
    """:func:`grid_pointing_game` for several methods; with ``class_distribution`` also each method wrapped in
    :class:`~hf_ssxai.ClassDistribution` (rows ``"<method> + class distribution"``; not for a scorer that
    explains the prediction only, whose class distribution would be uniform)."""
    values: dict[str, list[float]] = {}
    for name, explainer in explainers.items():
        values[name] = grid_pointing_game(explainer, grids, batch_size=batch_size).flatten().tolist()
        if class_distribution and (
            explainer.scorer_config.class_conditional or not isinstance(explainer, ScorerExplainer)
        ):
            wrapped = ClassDistribution(explainer)
            values[f"{name} + class distribution"] = (
                grid_pointing_game(wrapped, grids, batch_size=batch_size).flatten().tolist()
            )
    return GridPointingGameResult(values, {"grids": len(grids), "grid_side": int(grids.pixel_values.shape[-1])})
