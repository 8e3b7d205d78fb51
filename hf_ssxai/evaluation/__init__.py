"""Evaluations beyond the benchmark's metrics: the grid pointing game, randomization sanity checks, and human
rationales as masks for the rationale metrics.

See ``docs/evaluation.md`` for the definitions and the measured results.
"""

from .grid import GridBatch, GridPointingGameResult, grid_pointing_game, make_grids, run_grid_pointing_game, tile_shares
from .rationales import evidence_masks
from .sanity import (
    SanityCheckResult,
    cascading_randomization,
    data_randomization,
    randomization_steps,
    randomize_,
    step_parameters,
)
from .similarity import average_ranks, spearman, ssim

__all__ = [
    "GridBatch",
    "GridPointingGameResult",
    "SanityCheckResult",
    "average_ranks",
    "cascading_randomization",
    "data_randomization",
    "evidence_masks",
    "grid_pointing_game",
    "make_grids",
    "randomization_steps",
    "randomize_",
    "run_grid_pointing_game",
    "spearman",
    "ssim",
    "step_parameters",
    "tile_shares",
]
