"""Results and reports of a benchmark run: per-sample values, tables, Pareto fronts, radar plots, JSON.

A leaf of the benchmark package: it reads the columns (:mod:`.columns`) and draws with
:mod:`hf_ssxai.visualization`, and knows nothing of models, explainers or data, so a saved ``results.json`` can be
read, tabulated and plotted (and put into a model card) without loading any of them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import InvalidInputError
from ..markup import html_text, markdown_text
from ..metrics import Measure
from ..visualization import radar_plot
from .columns import COLUMNS, COSTS, MODALITY_GROUPS


# ---------------------------------------------------------------------------------------------- results
def _is_better(value: float, other: float, measure: Measure) -> bool:
    """Whether ``value`` is strictly better than ``other`` as the table shows them (rounded to ``measure.digits``)."""
    value, other = measure.shown(value), measure.shown(other)
    return value > other if measure.higher_is_better else value < other


def best_methods(values: Mapping[str, float], measure: Measure) -> set[str]:
    """The methods with the best value of a column, compared as displayed (rounded to ``measure.digits``).

    Methods that tie at the shown precision are all best, so the bold cells of a table never contradict its numbers.
    """
    return {
        method for method, value in values.items() if not any(_is_better(v, value, measure) for v in values.values())
    }


@dataclass
class ParetoFront:
    """Which methods no other method beats on a faithfulness metric and a clarity metric at once.

    Method A *beats* B on a metric when A's mean is strictly better in the metric's direction, compared as the table
    shows them (rounded to the column's digits, so equal-looking means never beat each other). A *dominates* B
    when, for some faithfulness metric f and some clarity metric c, A beats B on both f and c. The front is the
    methods no other method dominates. This relation need not be a partial order (A may dominate B on one pair of
    metrics and B dominate A on another), so the front can be empty.

    Args:
        faithfulness, clarity: the metrics compared.
        front: the methods not dominated, in the result's order.
        dominated_by: for each method, the methods that dominate it.
        reference: the method the per-pair report is about (normally ``"scorer"``).
        beats_reference: for each (faithfulness, clarity) pair, the methods that beat ``reference`` on both
            (empty when ``reference`` was not benchmarked).
    """

    faithfulness: tuple[str, ...]
    clarity: tuple[str, ...]
    front: list[str]
    dominated_by: dict[str, list[str]]
    reference: str
    beats_reference: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The statement for a report: the front, who dominates whom, and the per-pair grid for the reference."""
        faithfulness = ", ".join(COLUMNS[m].heading for m in self.faithfulness)
        clarity = ", ".join(COLUMNS[m].heading for m in self.clarity)
        lines = [
            f"**Pareto front** (faithfulness: {faithfulness}; clarity: {clarity}): "
            f"{', '.join(map(markdown_text, self.front)) or 'empty (every method is dominated)'}.",
            "A method is dominated when another method has a better mean on at least one faithfulness metric "
            "and at least one clarity metric at once.",
        ]
        dominated = [
            f"{markdown_text(method)} (by {', '.join(map(markdown_text, by))})"
            for method, by in self.dominated_by.items()
            if by
        ]
        if dominated:
            lines.append(f"Dominated: {'; '.join(dominated)}.")
        if self.beats_reference:
            lines += [
                "",
                f"Methods better than {self.reference} on both metrics of a pair (rows: faithfulness, "
                "columns: clarity):",
                "",
                "| | " + " | ".join(COLUMNS[c].heading for c in self.clarity) + " |",
                "|---|" + "---|" * len(self.clarity),
            ]
            for f in self.faithfulness:
                cells = [", ".join(self.beats_reference[f, c]) or "none" for c in self.clarity]
                lines.append(f"| {COLUMNS[f].heading} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


@dataclass
class BenchmarkResult:
    """Per-sample metric values, cost and metadata of a benchmark run.

    Args:
        values: ``values[method][metric]``: one float per evaluated sample, in ``sample_indices`` order.
        cost: ``cost[method]``: ``ms_per_sample`` (wall clock of explaining) and ``forwards_per_sample``
            (samples through the classifier while explaining).
        metadata: model name and fingerprint, number of samples, device, torch threads, steps, seed, date, ...
        sample_indices: the dataset rows evaluated, the same for every method.
        predictions: the class every method explained, per sample.
        labels: the dataset's label of every sample (empty without a label column).
        evidence_coverage: with evidence, the share of each sample's features inside its rationale, per column group
            (``""`` for a single-modality run; ``text``, ``image`` for a text-image one).
    """

    values: dict[str, dict[str, list[float]]]
    cost: dict[str, dict[str, float]]
    metadata: dict[str, Any] = field(default_factory=dict)
    sample_indices: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    evidence_coverage: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidInputError("A benchmark result needs at least one method.")
        metrics = set(next(iter(self.values.values())))
        if not metrics <= set(COLUMNS) or any(set(values) != metrics for values in self.values.values()):
            reported = {method: sorted(values) for method, values in self.values.items()}
            raise InvalidInputError(
                f"Every method must report the same metrics, all among {', '.join(COLUMNS)}; got {reported}."
            )
        if missing := [method for method in self.values if set(self.cost.get(method, {})) != set(COSTS)]:
            raise InvalidInputError(f"Methods {missing} need exactly the cost entries {', '.join(COSTS)}.")

    @property
    def methods(self) -> list[str]:
        return list(self.values)

    @property
    def metrics(self) -> list[str]:
        """The metrics measured, in the order of :data:`~.columns.COLUMNS`."""
        return [metric for metric in COLUMNS if metric in next(iter(self.values.values()))]

    def select(self, metrics: Sequence[str]) -> BenchmarkResult:
        """The same result with only ``metrics`` (e.g. one modality's columns of a text-image run, for one table)."""
        return replace(self, values={method: {m: values[m] for m in metrics} for method, values in self.values.items()})

    def rows(self, positions: Sequence[int]) -> BenchmarkResult:
        """The same result on some of its samples (positions in sample order): per-sample values, rows,
        predictions, labels and coverage cut alike; cost and metadata kept (they describe the whole run)."""

        def take(values: Sequence[Any]) -> list[Any]:
            return [values[position] for position in positions] if values else []

        return replace(
            self,
            values={method: {m: take(v) for m, v in metrics.items()} for method, metrics in self.values.items()},
            sample_indices=take(self.sample_indices),
            predictions=take(self.predictions),
            labels=take(self.labels),
            evidence_coverage={group: take(values) for group, values in self.evidence_coverage.items()},
        )

    def correct(self) -> BenchmarkResult:
        """The samples the classifier gets right (prediction = label): :meth:`rows` of those."""
        if not self.labels:
            raise InvalidInputError(
                "This result has no labels, so no rows the classifier gets right: benchmark with a label column."
            )
        positions = [i for i, (p, y) in enumerate(zip(self.predictions, self.labels, strict=True)) if p == y]
        if not positions:
            raise InvalidInputError(f"The classifier gets none of the {len(self.labels)} evaluated rows right.")
        return self.rows(positions)

    def coverage_summary(self) -> dict[str, dict[str, float]]:
        """Per column group with evidence: the rows, their mean rationale coverage (= a random map's expected
        rationale F1), the share of rows whose rationale covers more than half of their features, and the share of
        rows without evidence."""
        summary = {}
        for group, values in self.evidence_coverage.items():
            coverage = np.asarray(values, dtype=float)
            summary[group] = {
                "rows": len(coverage),
                "mean_coverage": float(coverage.mean()) if len(coverage) else 0.0,
                "share_over_half": float((coverage > 0.5).mean()) if len(coverage) else 0.0,
                "share_without_evidence": float((coverage == 0).mean()) if len(coverage) else 0.0,
            }
        return summary

    def coverage_markdown(self, group: str = "") -> str:
        """The coverage line of a report for one column group ("" when it has no evidence)."""
        summary = self.coverage_summary().get(group)
        if summary is None:
            return ""
        return (
            f"Rationales: {summary['share_over_half']:.1%} of the {summary['rows']} rows cover more than half of "
            f"their features; mean coverage {summary['mean_coverage']:.3f} (a random map's expected rationale F1: "
            f'"rationale F1 over random" subtracts it row by row); {summary["share_without_evidence"]:.1%} of the '
            "rows have no evidence (none given, or lost to truncation or cropping)."
        )

    def groups(self) -> dict[str, BenchmarkResult]:
        """The result per column group: ``text``, ``image`` and ``joint`` for a text-image run (one table, radar
        and Pareto front each), else ``{"": self}``."""
        parts = {
            group: [metric for metric in self.metrics if metric.startswith(f"{group}_")] for group in MODALITY_GROUPS
        }
        return {group: self.select(metrics) for group, metrics in parts.items() if metrics} or {"": self}

    def pareto_fronts(self) -> dict[str, ParetoFront]:
        """:meth:`pareto_front` of each group that has faithfulness and clarity metrics (``joint`` has no clarity)."""
        fronts = {}
        for group in self.groups():
            prefix = f"{group}_" if group else ""
            faithfulness = [f"{prefix}average_drop", f"{prefix}deletion_auc"]
            clarity = [f"{prefix}complexity", f"{prefix}sparsity"]
            if set(faithfulness + clarity) <= set(self.metrics):
                fronts[group] = self.pareto_front(faithfulness, clarity)
        return fronts

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``summary[method][metric] = {"mean": ..., "std": ...}`` over the samples (population std, ddof 0)."""
        return {
            method: {
                metric: {"mean": float(np.mean(values[metric])), "std": float(np.std(values[metric]))}
                for metric in self.metrics
            }
            for method, values in self.values.items()
        }

    def _means(self) -> dict[str, dict[str, float]]:
        return {
            method: {m: stats["mean"] for m, stats in metrics.items()} for method, metrics in self.summary().items()
        }

    def _table(self) -> tuple[list[str], dict[str, list[tuple[str, bool]]]]:
        """Column headings and, per method, ``(text, is_best)`` cells: metrics ("mean ± std") then cost.

        Best is judged on the means as displayed, so methods that tie at the shown precision are all best.
        """
        summary = self.summary()
        columns = []
        for metric in self.metrics:
            measure = COLUMNS[metric]
            stats = {method: summary[method][metric] for method in self.methods}
            texts = {m: f"{measure.display(s['mean'])} ± {measure.display(s['std'])}" for m, s in stats.items()}
            columns.append((measure, {m: s["mean"] for m, s in stats.items()}, texts))
        for name, measure in COSTS.items():
            values = {method: self.cost[method][name] for method in self.methods}
            columns.append((measure, values, {m: measure.display(v) for m, v in values.items()}))
        cells: dict[str, list[tuple[str, bool]]] = {method: [] for method in self.methods}
        for measure, values, texts in columns:
            best = best_methods(values, measure)
            for method in self.methods:
                cells[method].append((texts[method], method in best))
        return [measure.heading for measure, _, _ in columns], cells

    def to_markdown(self) -> str:
        """A table: one row per method; metric columns ("mean ± std") then cost columns; best per column in bold.

        Arrows give the direction (↑ higher is better, ↓ lower). Best is judged on the means as displayed, so
        methods that tie at the shown precision are all bold (see :func:`best_methods`).
        """
        headings, cells = self._table()
        lines = ["| method | " + " | ".join(headings) + " |", "|---|" + "---:|" * len(headings)]
        for method, row in cells.items():
            shown = " | ".join(f"**{t}**" if best else t for t, best in row)
            lines.append(f"| {markdown_text(method)} | {shown} |")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table of :meth:`to_markdown` as an HTML ``<table>`` (best cells in ``<b>``; every text escaped)."""
        headings, cells = self._table()
        head = "".join(f"<th>{html_text(h)}</th>" for h in ["method", *headings])
        rows = "".join(
            f"<tr><td>{html_text(method)}</td>"
            + "".join(f"<td><b>{html_text(t)}</b></td>" if best else f"<td>{html_text(t)}</td>" for t, best in row)
            + "</tr>"
            for method, row in cells.items()
        )
        return f"<table><tr>{head}</tr>{rows}</table>"

    def pareto_front(
        self,
        faithfulness: Sequence[str] = ("average_drop", "deletion_auc"),
        clarity: Sequence[str] = ("complexity", "sparsity"),
        reference: str = "scorer",
    ) -> ParetoFront:
        """The methods not dominated on (faithfulness, clarity) pairs of metrics; see :class:`ParetoFront`."""
        if missing := [m for m in (*faithfulness, *clarity) if m not in self.metrics]:
            raise InvalidInputError(f"Metrics {missing} were not measured; measured: {', '.join(self.metrics)}.")
        means = self._means()
        pairs = [(f, c) for f in faithfulness for c in clarity]

        def beats(a: str, b: str, pair: tuple[str, str]) -> bool:
            return all(_is_better(means[a][m], means[b][m], COLUMNS[m]) for m in pair)

        def beaten_by(method: str, pair: tuple[str, str]) -> list[str]:
            return [other for other in self.methods if other != method and beats(other, method, pair)]

        dominated_by = {
            method: [other for other in self.methods if other != method and any(beats(other, method, p) for p in pairs)]
            for method in self.methods
        }
        return ParetoFront(
            faithfulness=tuple(faithfulness),
            clarity=tuple(clarity),
            front=[method for method in self.methods if not dominated_by[method]],
            dominated_by=dominated_by,
            reference=reference,
            beats_reference={pair: beaten_by(reference, pair) for pair in pairs} if reference in self.values else {},
        )

    def radar(self, path: str | Path | None = None, title: str | None = None) -> Figure:
        """A radar plot of the means (each metric rescaled across methods, outward = better); PNG at ``path``.

        Means are rounded as the table shows them first, so methods tied in the table share a radius.
        """
        measures = {metric: COLUMNS[metric] for metric in self.metrics}
        means = {
            method: {measures[m].label: measures[m].shown(value) for m, value in metrics.items()}
            for method, metrics in self._means().items()
        }
        higher_is_better = {measure.label: measure.higher_is_better for measure in measures.values()}
        return radar_plot(means, higher_is_better=higher_is_better, path=path, title=title)

    def report_markdown(self) -> str:
        """The tables and Pareto fronts of every column group (see :func:`report_markdown`)."""
        return report_markdown(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata,
            "cost": self.cost,
            "summary": self.summary(),
            "sample_indices": self.sample_indices,
            "predictions": self.predictions,
            "labels": self.labels,
            "evidence_coverage": self.evidence_coverage,
            "coverage_summary": self.coverage_summary(),
            "values": self.values,
        }

    def to_json(self, path: str | Path) -> None:
        """Write per-sample values, summary, cost and metadata as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> BenchmarkResult:
        """Read a result written by :meth:`to_json` (the summary is recomputed from the values)."""
        data = json.loads(Path(path).read_text())
        return cls(
            values=data["values"],
            cost=data["cost"],
            metadata=data.get("metadata", {}),
            sample_indices=data.get("sample_indices", []),
            predictions=data.get("predictions", []),
            labels=data.get("labels", []),
            evidence_coverage=data.get("evidence_coverage", {}),
        )


def report_cuts(result: BenchmarkResult) -> list[tuple[str, str, BenchmarkResult]]:
    """``(name, heading, result)`` of each cut of the rows a report shows: the result alone, or, when
    ``metadata["correct_only"]`` is set, first the rows the classifier gets right, then every evaluated row."""
    if not result.metadata.get("correct_only"):
        return [("", "", result)]
    correct, total = result.correct(), len(result.sample_indices)
    return [
        ("", f"Rows the classifier gets right ({len(correct.sample_indices)} of {total})", correct),
        ("all", f"All {total} evaluated rows", result),
    ]


def radar_file(cut: str, group: str) -> str:
    """The radar plot's file name of one cut and column group: ``radar.png``, ``radar_text.png``, ``radar_all.png``."""
    return "_".join(["radar", *(name for name in (cut, group) if name)]) + ".png"


def report_markdown(result: BenchmarkResult, radars: bool = False) -> str:
    """The benchmark's tables, rationale coverage and Pareto fronts as markdown: one section per cut of the rows
    (:func:`report_cuts`) and, inside, one per group of a text-image run (text, image, joint), with links to the radar
    plots (:func:`radar_file`) when ``radars``."""
    sections = []
    for cut, heading, rows in report_cuts(result):
        if heading:
            sections += [f"## {heading}", ""]
        fronts = rows.pareto_fronts()
        for group, part in rows.groups().items():
            if group:
                sections += [f"{'###' if heading else '##'} {group.capitalize()}", ""]
            sections += [part.to_markdown(), ""]
            if coverage := rows.coverage_markdown(group):
                sections += [coverage, ""]
            if group in fronts:
                sections += [fronts[group].to_markdown(), ""]
            if radars:
                sections += [f"![radar {group}]({radar_file(cut, group)})", ""]
    return "\n".join(sections)


def write_report(result: BenchmarkResult, output_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` (tables, Pareto fronts, cost, setup) and ``radar.png`` (a text-image
    run: ``radar_text.png``, ``radar_image.png``, ``radar_joint.png``; with two cuts of the rows, the second cut's
    plots are ``radar_all*.png``)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = result.metadata
    heading = markdown_text(meta.get("model", "model")) + (
        f" on {markdown_text(meta['dataset'])}" if meta.get("dataset") else ""
    )
    timing = (
        f"on {meta.get('device_name') or meta.get('device', '?')} with {meta.get('torch_threads', '?')} torch threads"
    )
    # user strings (paths, --where, labels) are shown as JSON, with markup escaped
    setup = [
        f"- {key}: {html.escape(json.dumps(value, ensure_ascii=False, default=str), quote=False)}"
        for key, value in meta.items()
    ]
    report = [
        f"# Benchmark: {heading} ({len(result.sample_indices)} samples)",
        "",
        "Mean ± standard deviation over the samples; ↑ higher is better, ↓ lower is better; the best value per "
        "column is bold (ties at the shown precision are all bold). Cost: wall-clock milliseconds of explaining "
        f"per sample {timing} (after one warm-up batch, metrics excluded) and classifier forwards per sample.",
        "",
        report_markdown(result, radars=True),
        "## Setup",
        "",
        *setup,
    ]
    paths = {name: output_dir / name for name in ("results.json", "results.md")}
    result.to_json(paths["results.json"])
    paths["results.md"].write_text("\n".join(report) + "\n")
    for cut, _, rows in report_cuts(result):
        for group, part in rows.groups().items():
            paths[radar_file(cut, group)] = output_dir / radar_file(cut, group)
            title = heading + (" (all rows)" if cut else "") + (f": {group}" if group else "")
            part.radar(paths[radar_file(cut, group)], title=title)
    return paths
