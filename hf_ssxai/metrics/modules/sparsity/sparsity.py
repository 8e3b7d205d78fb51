"""evaluate module: sparsity of attribution maps, max / mean of the normalized map (higher is better)."""

import evaluate

from hf_ssxai.metrics.evaluate_support import (
    MAP_FEATURES,
    MAP_INPUTS_DOC,
    RETURN_PER_SAMPLE_DOC,
    MapMetric,
    map_tensors,
    metric_info,
    summarize,
)
from hf_ssxai.metrics.functional import sparsity

_CITATION = """\
@inproceedings{gomez2022metrics,
  title={Metrics for Saliency Map Evaluation of Deep Learning Explanation Methods},
  author={Gomez, Tristan and Fr{\\'e}our, Thomas and Mouch{\\`e}re, Harold},
  booktitle={International Conference on Pattern Recognition and Artificial Intelligence (ICPRAI)},
  year={2022}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}{RETURN_PER_SAMPLE_DOC}Returns:
    sparsity (`float`): mean over samples; higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class Sparsity(MapMetric):
    """Max / mean of the normalized attribution map; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(sparsity, _CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES)

    def _compute(self, attributions, feature_mask, return_per_sample: bool = False) -> dict:
        return summarize("sparsity", sparsity(*map_tensors(attributions, feature_mask)), return_per_sample)
