"""evaluate module: pointing game, does the map's maximum fall inside the ground-truth evidence (higher is better)."""

import datasets
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
from hf_ssxai.metrics.functional import pointing_game

_CITATION = """\
@article{zhang2018topdown,
  title={Top-down Neural Attention by Excitation Backprop},
  author={Zhang, Jianming and Bargal, Sarah Adel and Lin, Zhe and Brandt, Jonathan and Shen, Xiaohui and
          Sclaroff, Stan},
  journal={International Journal of Computer Vision},
  volume={126},
  pages={1084--1102},
  year={2018}
}
"""

_KWARGS_DESCRIPTION = f"""Args:
{MAP_INPUTS_DOC}    evidence_mask (`list` of `list` of `bool`): the ground-truth region of each sample (same lengths).
{RETURN_PER_SAMPLE_DOC}Returns:
    pointing_game (`float`): mean hit rate over samples; higher is better.
    per_sample (`list` of `float`): one value per sample, with return_per_sample=True.
"""


class PointingGame(MapMetric):
    """Share of samples whose map maximum lies inside the evidence; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        evidence = {"evidence_mask": datasets.Sequence(datasets.Value("bool"))}
        return metric_info(pointing_game, _CITATION, _KWARGS_DESCRIPTION, **MAP_FEATURES, **evidence)

    def _compute(self, attributions, feature_mask, evidence_mask, return_per_sample: bool = False) -> dict:
        maps, valid, evidence = map_tensors(attributions, feature_mask, evidence_mask)
        return summarize("pointing_game", pointing_game(maps, evidence, valid), return_per_sample)
