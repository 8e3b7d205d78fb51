"""The columns a benchmark result may hold, read from the one registry of measures (:mod:`hf_ssxai.metrics.measures`).

A single-modality run has one column per metric. A multimodal run (text-image) has every metric per part with the
other parts left whole (``text_deletion_auc``, ``image_complexity``, ...), then the faithfulness metrics with the
features of all parts ranked together (``joint_deletion_auc``, ...). Cost columns close every table.
"""

from __future__ import annotations

from ..metrics import MEASURES, Measure
from ..modalities import MODALITY_REGISTRY

#: every metric the benchmark reports, in table order (the registry itself)
METRICS = MEASURES
#: the faithfulness metrics, measured by removing features (for multimodal models also on all parts at once)
FAITHFULNESS = tuple(name for name, measure in METRICS.items() if measure.kind == "faithfulness")
#: the column group of the faithfulness metrics with every part's features ranked together
JOINT = "joint"
#: the parts of the registered multimodal modalities, each a column group of a multimodal result
MULTIMODAL_PARTS = tuple(
    dict.fromkeys(name for modality in MODALITY_REGISTRY.values() if len(modality.parts) > 1 for name in modality.parts)
)
MULTIMODAL_METRICS: dict[str, Measure] = {
    **{
        f"{part}_{name}": Measure(f"{part} {measure.label}", measure.higher_is_better, kind=measure.kind)
        for part in MULTIMODAL_PARTS
        for name, measure in METRICS.items()
    },
    **{
        f"{JOINT}_{name}": Measure(
            f"{JOINT} {METRICS[name].label}", METRICS[name].higher_is_better, kind="faithfulness"
        )
        for name in FAITHFULNESS
    },
}
#: the column groups of a multimodal result, one table each
MODALITY_GROUPS = (*MULTIMODAL_PARTS, JOINT)
#: every column a result may hold, in table order
COLUMNS: dict[str, Measure] = {**METRICS, **MULTIMODAL_METRICS}
#: cost columns (``BenchmarkResult.cost[method]``), lower is better
COSTS: dict[str, Measure] = {
    "ms_per_sample": Measure("ms / sample", higher_is_better=False, digits=2),
    "forwards_per_sample": Measure("forwards / sample", higher_is_better=False, digits=1),
}
