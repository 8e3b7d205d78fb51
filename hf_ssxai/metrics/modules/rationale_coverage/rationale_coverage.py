"""evaluate module: how much of each input its human rationale covers, and the share of rows over half."""

import evaluate

from hf_ssxai.metrics import evaluate_support as support
from hf_ssxai.metrics.functional import rationale_coverage

_KWARGS_DESCRIPTION = f"""Args:
    feature_mask (`list` of `list` of `bool`): which features of each input are valid (any length).
{support.RATIONALE_INPUT_DOC}{support.RETURN_PER_SAMPLE_DOC}Returns:
    rationale_coverage (`float`): mean share of the valid features inside the rationale (a random map's expected
        token F1).
    share_over_half (`float`): share of the samples whose rationale covers more than half of their features.
    per_sample (`list` of `float`): the coverage of every sample, with return_per_sample=True.
"""


class RationaleCoverage(support.CheckedMetric):
    """A property of the data: rationale coverage per sample, and the share of samples covered over half."""

    def _info(self) -> evaluate.MetricInfo:
        return support.rationale_info(rationale_coverage, _KWARGS_DESCRIPTION, maps=False)

    def _compute(self, feature_mask, rationale_mask, return_per_sample: bool = False) -> dict:
        valid, rationale = support.map_tensors(feature_mask, rationale_mask)
        coverage = rationale_coverage(rationale, valid.bool())
        return {
            **support.summarize("rationale_coverage", coverage, return_per_sample),
            "share_over_half": (coverage > 0.5).double().mean().item(),
        }
