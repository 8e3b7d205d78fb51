"""evaluate module: Gini index of the normalized attribution map (Chalasani et al., 2020; higher is better)."""

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
from hf_ssxai.metrics.functional import gini_sparseness

_CITATION = """\
@inproceedings{chalasani2020concise,
  title={Concise Explanations of Neural Networks using Adversarial Training},
  author={Chalasani, Prasad and Chen, Jiefeng and Chowdhury, Amrita Roy and Wu, Xi and Jha, Somesh},
  booktitle={International Conference on Machine Learning (ICML)},
  year={2020}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}{RETURN_PER_SAMPLE_DOC}Returns:
    gini_sparseness (`float`): mean over samples; higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class GiniSparseness(MapMetric):
    """Gini index of the normalized attribution map; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(gini_sparseness, _CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES)

    def _compute(self, attributions, feature_mask, return_per_sample: bool = False) -> dict:
        values = gini_sparseness(*map_tensors(attributions, feature_mask))
        return summarize("gini_sparseness", values, return_per_sample)
