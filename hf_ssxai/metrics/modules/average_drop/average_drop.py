"""evaluate module: average drop of the predicted class' probability under the map (lower is better)."""

import datasets
import evaluate

from hf_ssxai.metrics.evaluate_support import RETURN_PER_SAMPLE_DOC, CheckedMetric, metric_info, stacked, summarize
from hf_ssxai.metrics.functional import average_drop

_CITATION = """\
@inproceedings{chattopadhyay2018gradcampp,
  title={Grad-CAM++: Generalized Gradient-Based Visual Explanations for Deep Convolutional Networks},
  author={Chattopadhyay, Aditya and Sarkar, Anirban and Howlader, Prantik and Balasubramanian, Vineeth N.},
  booktitle={IEEE Winter Conference on Applications of Computer Vision (WACV)},
  year={2018}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
    probabilities (`list` of `float`): p(x), the predicted class' probability on the full input
        (`PerturbationOutput.probabilities`).
    masked_probabilities (`list` of `float`): p(x * S), the same class on the input weighted by the normalized
        map (`PerturbationOutput.masked_probabilities`).
    relative (`bool`, default True): divide the drop by p(x) (Grad-CAM++); False gives the thesis' eq. 4.1.
{RETURN_PER_SAMPLE_DOC}Returns:
    average_drop (`float`): mean over samples, in [0, 1]; lower is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class AverageDrop(CheckedMetric):
    """Mean drop of the predicted class' probability when the input is weighted by the map; lower is better."""

    def _info(self) -> evaluate.MetricInfo:
        probability = datasets.Value("float32")
        return metric_info(
            average_drop, _CITATION, _KWARGS_DESCRIPTION, probabilities=probability, masked_probabilities=probability
        )

    def _compute(
        self, probabilities, masked_probabilities, relative: bool = True, return_per_sample: bool = False
    ) -> dict:
        full = stacked(probabilities, "probabilities")
        masked = stacked(masked_probabilities, "masked_probabilities")
        return summarize("average_drop", average_drop(full, masked, relative=relative), return_per_sample)
