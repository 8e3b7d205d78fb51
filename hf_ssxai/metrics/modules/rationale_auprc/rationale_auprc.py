"""evaluate module: area under the precision-recall curve of a map's scores against a human rationale (ERASER)."""

import evaluate

from hf_ssxai.metrics.evaluate_support import (
    ERASER_CITATION,
    MAP_FEATURES,
    MAP_INPUTS_DOC,
    RATIONALE_FEATURES,
    RATIONALE_INPUT_DOC,
    RETURN_PER_SAMPLE_DOC,
    map_tensors,
    metric_info,
    summarize,
)
from hf_ssxai.metrics.functional import rationale_auprc

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}{RATIONALE_INPUT_DOC}{RETURN_PER_SAMPLE_DOC}Returns:
    rationale_auprc (`float`): mean over samples; higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class RationaleAuprc(evaluate.Metric):
    """ERASER's soft-score plausibility: AUPRC of the normalized map against the rationale; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(rationale_auprc, ERASER_CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES, **RATIONALE_FEATURES)

    def _compute(self, attributions, feature_mask, rationale_mask, return_per_sample: bool = False) -> dict:
        maps, valid, rationale = map_tensors(attributions, feature_mask, rationale_mask)
        return summarize("rationale_auprc", rationale_auprc(maps, rationale, valid), return_per_sample)
