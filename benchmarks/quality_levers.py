"""The scorer variants of docs/benchmarks.md ("Quality levers") beside the other methods, from saved results.

Each dataset folder under ``benchmarks/results/quality/`` holds ``baselines.json`` (every other method, measured
once with ``hf-ssxai benchmark``) and one ``<variant>.json`` per scorer variant (``hf-ssxai benchmark --methods
scorer`` on the same rows). This script puts each variant beside the baselines and says which methods beat it on a
faithfulness and a clarity metric at once (the benchmark's Pareto rule), so anyone can recompute the fronts:

    python benchmarks/quality_levers.py                 # every dataset folder
    python benchmarks/quality_levers.py --dataset mnist
    python benchmarks/quality_levers.py --dataset sst2 --report no-binary-penalty \
        --output-dir benchmarks/results/sst2_default

A text-image folder (flickr8k) gives one row per map, text and image, each against its own front.

``--report`` writes one variant beside every baseline as a full benchmark report (results.json, results.md, radar).

How each file was made is in docs/benchmarks.md ("Quality levers").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from merge_results import merge

from hf_ssxai.benchmark import BenchmarkResult, write_report

QUALITY = Path(__file__).parent / "results" / "quality"
METRICS = ("average_drop", "deletion_auc", "insertion_auc", "complexity", "sparsity")


def without_scorer(baselines: BenchmarkResult) -> BenchmarkResult:
    """``baselines`` less the scorer that was measured with them (each variant takes its place)."""
    for table in (baselines.values, baselines.cost):
        del table["scorer"]
    return baselines


def beside_baselines(variant: BenchmarkResult, baselines: BenchmarkResult) -> BenchmarkResult:
    """One variant's scorer merged with the baselines measured on the same rows."""
    if not (baselines.labels and variant.labels):  # measured before the benchmark recorded the labels
        baselines.labels = variant.labels = baselines.labels or variant.labels
    return merge([variant, baselines])


def variant_rows(folder: Path) -> list[str]:
    """Markdown rows: one per variant, its means and the methods that dominate it."""
    baselines = BenchmarkResult.from_json(folder / "baselines.json")
    rows = [row("before (the scorer measured with the baselines)", baselines)]
    baselines = without_scorer(baselines)
    for path in sorted(folder.glob("*.json")):
        if path.name != "baselines.json":
            rows.append(row(path.stem, beside_baselines(BenchmarkResult.from_json(path), baselines)))
    return rows


def row(name: str, result: BenchmarkResult) -> str:
    """Markdown rows: the scorer's means in ``result`` and the methods that dominate it there; a text-image result
    gives one row per map (``text`` and ``image``, each with its own front)."""
    means = result.summary()["scorer"]
    rows = []
    for group, front in result.pareto_fronts().items():
        prefix = f"{group}_" if group else ""
        cells = " | ".join(f"{means[prefix + metric]['mean']:.3f}" for metric in METRICS)
        dominated = ", ".join(front.dominated_by["scorer"]) or "**none**"
        rows.append(f"| {name}{f' ({group})' if group else ''} | {cells} | {dominated} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="one folder of benchmarks/results/quality (default: all)")
    parser.add_argument("--report", help="a variant of --dataset (its file name without .json) to write in full")
    parser.add_argument("--output-dir", help="where --report writes results.json, results.md and radar.png")
    args = parser.parse_args()
    if args.report:
        if not (args.dataset and args.output_dir):
            parser.error("--report needs --dataset and --output-dir")
        folder = QUALITY / args.dataset
        baselines = without_scorer(BenchmarkResult.from_json(folder / "baselines.json"))
        result = beside_baselines(BenchmarkResult.from_json(folder / f"{args.report}.json"), baselines)
        print("Wrote " + ", ".join(str(path) for path in write_report(result, args.output_dir).values()))
        return
    folders = [QUALITY / args.dataset] if args.dataset else sorted(p for p in QUALITY.iterdir() if p.is_dir())
    header = " | ".join(METRICS)
    for folder in folders:
        print(f"\n{folder.name}\n\n| variant | {header} | dominated by |\n|---" + "|---" * (len(METRICS) + 1) + "|")
        print("\n".join(variant_rows(folder)))


if __name__ == "__main__":
    main()
