"""evaluate module: area under the deletion curve (lower is better)."""

import evaluate

from hf_ssxai.metrics import evaluate_support
from hf_ssxai.metrics.evaluate_support import CURVE_FEATURES, RETURN_PER_SAMPLE_DOC, metric_info, stacked, summarize
from hf_ssxai.metrics.functional import auc

_CITATION = """\
@inproceedings{petsiuk2018rise,
  title={RISE: Randomized Input Sampling for Explanation of Black-box Models},
  author={Petsiuk, Vitali and Das, Abir and Saenko, Kate},
  booktitle={British Machine Vision Conference (BMVC)},
  year={2018}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
    curves (`list` of `list` of `float`): one deletion curve per sample (`PerturbationOutput.deletion_curve`): the
        predicted class' probability as the top-ranked valid features are
        removed step by step, at equally spaced fractions from 0 to 1;
        all curves the same length.
{RETURN_PER_SAMPLE_DOC}Returns:
    deletion_auc (`float`): mean trapezoid area over samples, in [0, 1]; lower is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class DeletionAuc(evaluate_support.CheckedMetric):
    """Area under the deletion curve; lower is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(auc, _CITATION, _KWARGS_DESCRIPTION, **CURVE_FEATURES)

    def _compute(self, curves, return_per_sample: bool = False) -> dict:
        return summarize("deletion_auc", auc(stacked(curves, "curves")), return_per_sample)
