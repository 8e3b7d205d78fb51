"""evaluate module: area under the precision-recall curve of a map's scores against a human rationale (ERASER)."""

import evaluate

from hf_ssxai.metrics import evaluate_support as support
from hf_ssxai.metrics.functional import rationale_auprc

_KWARGS_DESCRIPTION = f"""Args:
{support.RATIONALE_INPUTS_DOC}{support.RETURN_PER_SAMPLE_DOC}Returns:
    rationale_auprc (`float`): mean over samples of each sample's area under its precision-recall curve;
        higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class RationaleAuprc(support.CheckedMetric):
    """ERASER's soft-score plausibility: AUPRC of the normalized map against the rationale; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return support.rationale_info(rationale_auprc, _KWARGS_DESCRIPTION)

    def _compute(self, attributions, feature_mask, rationale_mask, return_per_sample: bool = False) -> dict:
        maps, valid, rationale = support.map_tensors(attributions, feature_mask, rationale_mask)
        return support.summarize("rationale_auprc", rationale_auprc(maps, rationale, valid), return_per_sample)
