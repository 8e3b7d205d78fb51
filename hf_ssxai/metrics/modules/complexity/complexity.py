"""evaluate module: complexity of attribution maps, the norm of the normalized map (lower is better)."""

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
from hf_ssxai.metrics.functional import complexity

_CITATION = """\
@inproceedings{poppi2021revisiting,
  title={Revisiting the Evaluation of Class Activation Mapping for Explainability: A Novel Metric and Experimental
         Analysis},
  author={Poppi, Samuele and Cornia, Marcella and Baraldi, Lorenzo and Cucchiara, Rita},
  booktitle={CVPR Workshops},
  year={2021}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}    norm (`str`, default "l2"): "l2" (the thesis' code) or "l1" (Poppi et al., 2021).
{RETURN_PER_SAMPLE_DOC}Returns:
    complexity (`float`): mean over samples; lower is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class Complexity(MapMetric):
    """Norm of the normalized attribution map; lower is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(complexity, _CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES)

    def _compute(self, attributions, feature_mask, norm: str = "l2", return_per_sample: bool = False) -> dict:
        values = complexity(*map_tensors(attributions, feature_mask), norm=norm)
        return summarize("complexity", values, return_per_sample)
