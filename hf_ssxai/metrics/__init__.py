"""Faithfulness and clarity metrics: pure tensor functions, the perturbation engine, ``evaluate`` modules.

The model-dependent work (masked forwards, deletion and insertion curves) is done by
:func:`compute_perturbations`; the ``evaluate`` modules in ``modules/`` aggregate its outputs or the
attribution maps. See ``docs/metrics.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..registry import nearest
from .functional import (
    RationaleOverlap,
    auc,
    average_drop,
    complexity,
    entropy_complexity,
    feature_ranks,
    gini_sparseness,
    normalize_attributions,
    pointing_game,
    random_rationale_f1,
    rationale_auprc,
    rationale_coverage,
    rationale_overlap,
    sparsity,
    tie_break_keys,
)
from .measures import MEASURES, ROW_MEASURES, Measure, register_measure
from .perturbation import PerturbationOutput, compute_perturbations, only_modality

#: folder of the bundled ``evaluate`` modules, one sub-folder per metric
MODULES_DIR = Path(__file__).parent / "modules"
#: the metrics bundled as ``evaluate`` modules (those of :data:`MEASURES` that have one, and the row measures), sorted
METRIC_NAMES = tuple(sorted([*(name for name, measure in MEASURES.items() if measure.has_module), *ROW_MEASURES]))


def module_path(name: str) -> Path:
    """Folder of the bundled ``evaluate`` module ``name`` (pass it to ``evaluate.load``)."""
    if name not in METRIC_NAMES:
        raise InvalidInputError(
            f"Unknown metric {name!r}{nearest(name, METRIC_NAMES)}; bundled metrics: {', '.join(METRIC_NAMES)}."
        )
    return MODULES_DIR / name


def load(name: str, **kwargs: Any) -> Any:
    """Load a bundled metric as an ``evaluate.Metric``, offline: ``load("deletion_auc").compute(...)``.

    ``kwargs`` go to :func:`evaluate.load` (``cache_dir``, ``keep_in_memory``, ``experiment_id``, ...).
    """
    import evaluate  # imported here: it is slow to import and only the modules need it

    return evaluate.load(str(module_path(name)), **kwargs)


__all__ = [
    "MEASURES",
    "METRIC_NAMES",
    "Measure",
    "MODULES_DIR",
    "ROW_MEASURES",
    "PerturbationOutput",
    "RationaleOverlap",
    "auc",
    "average_drop",
    "complexity",
    "compute_perturbations",
    "only_modality",
    "entropy_complexity",
    "feature_ranks",
    "gini_sparseness",
    "load",
    "module_path",
    "normalize_attributions",
    "pointing_game",
    "random_rationale_f1",
    "rationale_auprc",
    "rationale_coverage",
    "rationale_overlap",
    "register_measure",
    "sparsity",
    "tie_break_keys",
]
