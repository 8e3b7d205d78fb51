"""The benchmark: every explainer × every metric on the same samples, features and masks.

One job per module:

- :mod:`.columns`: the columns a result holds, read from the registry of measures (:mod:`hf_ssxai.metrics.measures`);
- :mod:`.batching`: samples, batches and evidence masks;
- :mod:`.runner`: the measuring loop (:func:`run_benchmark`) and the explainers it builds (:func:`build_explainers`);
- :mod:`.results`: results and reports (tables, Pareto fronts, radar plots, JSON), a leaf;
- :mod:`.from_pretrained`: the same from a checkpoint and a dataset named on the command line.

Loading datasets by name lives in :mod:`hf_ssxai.data.loading` (:func:`~hf_ssxai.data.loading.load_dataset_splits`).
"""

from .batching import collate, dataset_to_batch, draw_samples
from .columns import COLUMNS, COSTS, FAITHFULNESS, METRICS, MODALITY_GROUPS, MULTIMODAL_METRICS
from .from_pretrained import benchmark_from_pretrained, prepare_dataset
from .results import BenchmarkResult, ParetoFront, best_methods, report_markdown, write_report
from .runner import build_explainers, needs_baselines, run_benchmark

__all__ = [
    "COLUMNS",
    "COSTS",
    "FAITHFULNESS",
    "METRICS",
    "MODALITY_GROUPS",
    "MULTIMODAL_METRICS",
    "BenchmarkResult",
    "ParetoFront",
    "benchmark_from_pretrained",
    "best_methods",
    "build_explainers",
    "collate",
    "dataset_to_batch",
    "draw_samples",
    "needs_baselines",
    "prepare_dataset",
    "report_markdown",
    "run_benchmark",
    "write_report",
]
