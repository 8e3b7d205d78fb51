"""evaluate module: entropy of the normalized attribution map (Bhatt et al., 2020; lower is better)."""

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
from hf_ssxai.metrics.functional import entropy_complexity

_CITATION = """\
@inproceedings{bhatt2020evaluating,
  title={Evaluating and Aggregating Feature-based Model Explanations},
  author={Bhatt, Umang and Weller, Adrian and Moura, Jos{\\'e} M. F.},
  booktitle={International Joint Conference on Artificial Intelligence (IJCAI)},
  year={2020}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}{RETURN_PER_SAMPLE_DOC}Returns:
    entropy_complexity (`float`): mean over samples, in nats; lower is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class EntropyComplexity(MapMetric):
    """Shannon entropy of the normalized attribution map; lower is better."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(entropy_complexity, _CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES)

    def _compute(self, attributions, feature_mask, return_per_sample: bool = False) -> dict:
        values = entropy_complexity(*map_tensors(attributions, feature_mask))
        return summarize("entropy_complexity", values, return_per_sample)
