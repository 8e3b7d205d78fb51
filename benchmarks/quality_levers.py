"""The scorer variants of docs/benchmarks.md ("Quality levers") beside the other methods, from saved results.

Each dataset folder under ``benchmarks/results/quality/`` holds ``baselines.json`` (every other method, measured
once with ``hf-ssxai benchmark``) and one ``<variant>.json`` per scorer variant (``hf-ssxai benchmark --methods
scorer`` on the same rows). This script puts each variant beside the baselines and says which methods beat it on a
faithfulness and a clarity metric at once (the benchmark's Pareto rule), so anyone can recompute the fronts:

    python benchmarks/quality_levers.py                 # every dataset folder
    python benchmarks/quality_levers.py --dataset mnist

How each file was made is in docs/benchmarks.md ("Quality levers").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from merge_results import merge

from hf_ssxai.benchmark import BenchmarkResult

QUALITY = Path(__file__).parent / "results" / "quality"
METRICS = ("average_drop", "deletion_auc", "insertion_auc", "complexity", "sparsity")


def variant_rows(folder: Path) -> list[str]:
    """Markdown rows: one per variant, its means and the methods that dominate it."""
    baselines = BenchmarkResult.from_json(folder / "baselines.json")
    rows = [row("before (the scorer measured with the baselines)", baselines)]
    for table in (baselines.values, baselines.cost):
        del table["scorer"]
    for path in sorted(folder.glob("*.json")):
        if path.name != "baselines.json":
            variant = BenchmarkResult.from_json(path)
            if not (baselines.labels and variant.labels):  # measured before the benchmark recorded the labels
                baselines.labels = variant.labels = baselines.labels or variant.labels
            rows.append(row(path.stem, merge([variant, baselines])))
    return rows


def row(name: str, result: BenchmarkResult) -> str:
    """One Markdown row: the scorer's means in ``result`` and the methods that dominate it there."""
    means = result.summary()["scorer"]
    cells = " | ".join(f"{means[metric]['mean']:.3f}" for metric in METRICS)
    dominated = ", ".join(result.pareto_front().dominated_by["scorer"]) or "**none**"
    return f"| {name} | {cells} | {dominated} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="one folder of benchmarks/results/quality (default: all)")
    args = parser.parse_args()
    folders = [QUALITY / args.dataset] if args.dataset else sorted(p for p in QUALITY.iterdir() if p.is_dir())
    header = " | ".join(METRICS)
    for folder in folders:
        print(f"\n{folder.name}\n\n| variant | {header} | dominated by |\n|---" + "|---" * (len(METRICS) + 1) + "|")
        print("\n".join(variant_rows(folder)))


if __name__ == "__main__":
    main()
