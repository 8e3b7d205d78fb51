"""evaluate module: how much of each input its human rationale covers, and the share of rows over half."""

import evaluate

from hf_ssxai.metrics.evaluate_support import (
    ERASER_CITATION,
    MAP_FEATURES,
    RATIONALE_FEATURES,
    RATIONALE_INPUT_DOC,
    RETURN_PER_SAMPLE_DOC,
    map_tensors,
    metric_info,
    summarize,
)
from hf_ssxai.metrics.functional import rationale_coverage

_KWARGS_DESCRIPTION = f"""Args:
    feature_mask (`list` of `list` of `bool`): which features of each input are valid (any length).
{RATIONALE_INPUT_DOC}{RETURN_PER_SAMPLE_DOC}Returns:
    rationale_coverage (`float`): mean share of the valid features inside the rationale (a random map's expected
        token F1).
    share_over_half (`float`): share of the samples whose rationale covers more than half of their features.
    per_sample (`list` of `float`): the coverage of every sample, with return_per_sample=True.
"""


class RationaleCoverage(evaluate.Metric):
    """A property of the data: rationale coverage per sample, and the share of samples covered over half."""

    def _info(self) -> evaluate.MetricInfo:
        features = {"feature_mask": MAP_FEATURES["feature_mask"], **RATIONALE_FEATURES}
        return metric_info(rationale_coverage, ERASER_CITATION, _KWARGS_DESCRIPTION, **features)

    def _compute(self, feature_mask, rationale_mask, return_per_sample: bool = False) -> dict:
        valid, rationale = map_tensors(feature_mask, rationale_mask)
        coverage = rationale_coverage(rationale, valid.bool())
        return {
            **summarize("rationale_coverage", coverage, return_per_sample),
            "share_over_half": (coverage > 0.5).double().mean().item(),
        }
