"""Merge benchmark runs of disjoint method sets on the same samples into one report.

Long benchmarks can run their methods in parallel processes (``hf-ssxai benchmark --methods ...`` each), then:

    python benchmarks/merge_results.py runs/bench_a/results.json runs/bench_b/results.json --output-dir DIR
"""

from __future__ import annotations

import argparse

from hf_ssxai.benchmark import BenchmarkResult, write_report


def merge(results: list[BenchmarkResult]) -> BenchmarkResult:
    """One result holding every method; the runs must have evaluated the same samples with the same predictions."""
    first = results[0]
    for other in results[1:]:
        same_rows = (other.sample_indices, other.predictions, other.labels, other.evidence_coverage) == (
            first.sample_indices,
            first.predictions,
            first.labels,
            first.evidence_coverage,
        )
        if not same_rows:
            raise ValueError(
                "The runs evaluated different samples or explained different classes; rerun with one seed."
            )
        if set(other.values) & set(first.values):
            raise ValueError(f"Methods measured twice: {sorted(set(other.values) & set(first.values))}.")
    methods = [method for result in results for method in result.values]
    metadata = {**first.metadata, "methods": methods, "merged_runs": len(results)}
    for result in results:  # the baselines actually used, from the run of the SHAP methods
        if not str(result.metadata.get("baselines", "none")).startswith("none"):
            metadata["baselines"] = result.metadata["baselines"]
            metadata["baseline_samples"] = result.metadata["baseline_samples"]
    return BenchmarkResult(
        values={method: values for result in results for method, values in result.values.items()},
        cost={method: cost for result in results for method, cost in result.cost.items()},
        metadata=metadata,
        sample_indices=first.sample_indices,
        predictions=first.predictions,
        labels=first.labels,
        evidence_coverage=first.evidence_coverage,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.json files of the runs")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    merged = merge([BenchmarkResult.from_json(path) for path in args.results])
    for name, path in write_report(merged, args.output_dir).items():
        print(name, path)


if __name__ == "__main__":
    main()
