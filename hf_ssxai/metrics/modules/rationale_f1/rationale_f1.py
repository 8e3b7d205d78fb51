"""evaluate module: token F1 of a map's top features against a human rationale, with its per-row random reference."""

import evaluate

from hf_ssxai.metrics import evaluate_support as support
from hf_ssxai.metrics.functional import random_rationale_f1, rationale_overlap

_KWARGS_DESCRIPTION = f"""Args:
{support.RATIONALE_INPUTS_DOC}\
    top_k (`int`, optional): features taken from each map (default: as many as its rationale has).
{support.RETURN_PER_SAMPLE_DOC}Returns:
    rationale_f1 (`float`): mean token F1 over samples; higher is better.
    random_f1 (`float`): mean of each sample's random reference, a random map's expected F1.
    rationale_f1_over_random (`float`): mean of F1 minus the reference (0: chance); higher is better.
    per_sample (`list` of `float`): the token F1 of every sample, with return_per_sample=True.
"""


class RationaleF1(support.CheckedMetric):
    """ERASER's token F1 of the map's top-k features against the rationale, beside a random map's; higher is better."""

    def _info(self) -> evaluate.MetricInfo:
        return support.rationale_info(rationale_overlap, _KWARGS_DESCRIPTION)

    def _compute(
        self, attributions, feature_mask, rationale_mask, top_k: int | None = None, return_per_sample: bool = False
    ) -> dict:
        maps, valid, rationale = support.map_tensors(attributions, feature_mask, rationale_mask)
        f1 = rationale_overlap(maps, rationale, valid, top_k=top_k).f1
        reference = random_rationale_f1(rationale, valid, top_k=top_k)
        return {
            **support.summarize("rationale_f1", f1, return_per_sample),
            "random_f1": reference.double().mean().item(),
            "rationale_f1_over_random": (f1 - reference).double().mean().item(),
        }
