"""evaluate module: area under the insertion curve (higher is better)."""

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
    curves (`list` of `list` of `float`): one insertion curve per sample (`PerturbationOutput.insertion_curve`): the
        predicted class' probability as the top-ranked valid features are
        inserted step by step into the fully removed input, at equally spaced fractions from 0 to 1;
        all curves the same length.
{RETURN_PER_SAMPLE_DOC}Returns:
    insertion_auc (`float`): mean trapezoid area over samples, in [0, 1]; higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class InsertionAuc(evaluate_support.CheckedMetric):
    """Area under the insertion curve; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(auc, _CITATION, _KWARGS_DESCRIPTION, **CURVE_FEATURES)

    def _compute(self, curves, return_per_sample: bool = False) -> dict:
        return summarize("insertion_auc", auc(stacked(curves, "curves")), return_per_sample)
