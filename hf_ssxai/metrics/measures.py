"""The registry of measures: every metric by name, which way is better and how it is shown.

The single source of truth for the bundled ``evaluate`` modules (:data:`~hf_ssxai.metrics.METRIC_NAMES`), the
benchmark's tables and best-per-column marks, its Pareto fronts and its radar plots. A new metric is a function in
``functional.py`` and one :func:`register_measure` call here (plus its ``evaluate`` module in ``modules/``, if any).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry

#: the kinds of measure: faithfulness needs masked forwards (the perturbation engine), clarity reads the map alone,
#: evidence compares the map with ground-truth evidence
KINDS = ("faithfulness", "clarity", "evidence")


@dataclass(frozen=True)
class Measure:
    """How one metric is labelled, compared and shown.

    Args:
        label: the column heading (without the direction arrow).
        higher_is_better: the direction.
        digits: the decimals shown; methods are compared at this precision.
        kind: one of :data:`KINDS`.
        has_module: whether ``metrics/modules/<name>`` bundles it as an ``evaluate`` module.
    """

    label: str
    higher_is_better: bool
    digits: int = 3
    kind: str = "clarity"
    has_module: bool = True

    @property
    def heading(self) -> str:
        """The label with its direction: ``↑`` higher is better, ``↓`` lower is better."""
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    def display(self, value: float) -> str:
        return f"{value:.{self.digits}f}"

    def shown(self, value: float) -> float:
        """``value`` rounded as :meth:`display` shows it: the precision at which methods are compared."""
        return float(self.display(value))


#: every metric, in the order of the benchmark's tables
MEASURES: Registry[Measure] = Registry("metric")


def register_measure(name: str, measure: Measure) -> Measure:
    """Add a metric under ``name`` (the benchmark reports it, tables and plots read its direction)."""
    return MEASURES.register(name, measure)


register_measure("average_drop", Measure("average drop", higher_is_better=False, kind="faithfulness"))
register_measure("deletion_auc", Measure("deletion AUC", higher_is_better=False, kind="faithfulness"))
register_measure("insertion_auc", Measure("insertion AUC", higher_is_better=True, kind="faithfulness"))
register_measure("complexity", Measure("complexity", higher_is_better=False))
register_measure("sparsity", Measure("sparsity", higher_is_better=True))
register_measure("entropy_complexity", Measure("entropy complexity", higher_is_better=False))
register_measure("gini_sparseness", Measure("Gini sparseness", higher_is_better=True))
register_measure("pointing_game", Measure("pointing game", higher_is_better=True, kind="evidence"))
register_measure("rationale_f1", Measure("rationale F1", higher_is_better=True, kind="evidence"))
register_measure("rationale_iou", Measure("rationale IoU", higher_is_better=True, kind="evidence", has_module=False))
#: token F1 minus its per-row random reference (a random map's expected F1): 0 is chance, whatever the rationale's size
register_measure(
    "rationale_f1_over_random",
    Measure("rationale F1 over random", higher_is_better=True, kind="evidence", has_module=False),
)
register_measure("rationale_auprc", Measure("rationale AUPRC", higher_is_better=True, kind="evidence"))

#: ``evaluate`` modules that describe the evaluated rows, not a method's maps (the same for every method): a result
#: reports them once, beside its tables, never as a column
ROW_MEASURES = ("rationale_coverage",)
