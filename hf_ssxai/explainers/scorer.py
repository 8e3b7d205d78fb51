"""The learned explainer: the scorer's map, from the same single forward that gives the prediction."""

from __future__ import annotations

import logging
from typing import Any

import torch

from .base import Explainer

logger = logging.getLogger(__name__)


class ScorerExplainer(Explainer):
    """The scorer's attribution map (``model(**inputs).attributions``): one classifier forward per batch.

    A class-conditional scorer (``ScorerConfig.class_conditional``) explains ``target``. Otherwise the scorer
    explains the classifier's prediction; its map does not depend on ``target``, which is only recorded in the
    output (a warning says so when it differs from the prediction).
    """

    name = "scorer"
    _warned = False

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        conditional = self.scorer_config.class_conditional
        with torch.no_grad():
            outputs = self.model(**inputs, target_class=target) if conditional else self.model(**inputs)
        differs = target is not None and (target != outputs.logits.argmax(dim=-1)).any()
        if not conditional and differs and not self._warned:
            self._warned = True  # once per explainer, not once per batch
            logger.warning(
                "The scorer explains the prediction: its map is the same for every target. Some targets given "
                "differ from the predicted class; train a class-conditional scorer "
                "(ScorerConfig(class_conditional=True)) or use a Captum explainer for class-specific maps."
            )
        return outputs.attributions, outputs.logits
