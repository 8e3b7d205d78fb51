"""Class-distribution attributions (Walter, Vreeken and Fischer, arXiv 2503.07346) around any explainer.

For a target t and a class set S (the top-k classes by probability plus the least likely one, t added):

    B_c = |A_c|                      for c in S, with A_c the base explainer's map for class c
    P_c = softmax_{c in S}(T * B_c)  feature by feature
    result = A_t * P_t * 1[P_t - 1/K > tau]

so a feature keeps its attribution only where it speaks for the target more than for the other classes. Raw
gradient maps are tiny, which makes the softmax flat; ``normalize="shared_max"`` (default) divides the K maps of a
sample by their common maximum first, which keeps their ratios. ``normalize=None`` uses raw magnitudes, as the
authors' code does.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InvalidInputError
from .base import Explainer
from .scorer import ScorerExplainer

NORMALIZATIONS = ("shared_max", None)


class ClassDistribution(Explainer):
    """Wrap ``base`` (any explainer of ours): the K class maps come from one batched ``base.attribute`` call.

    Args:
        base: the explainer whose maps are compared across classes (the scorer only if it is class-conditional).
        k: how many most probable classes enter the class set (the least likely class and the target join them).
        temperature: T, the sharpness of the per-feature softmax over classes (10 in the authors' code).
        tau: the margin over the uniform share 1/K a feature needs to keep its attribution.
        normalize: ``"shared_max"`` or None (raw magnitudes).
    """

    name = "class_distribution"

    def __init__(
        self,
        base: Explainer,
        *,
        k: int = 2,
        temperature: float = 10.0,
        tau: float = 0.01,
        normalize: str | None = "shared_max",
    ) -> None:
        if not isinstance(base, Explainer):
            raise InvalidInputError(f"base must be an explainer (see get_explainer), got {type(base).__name__}.")
        if isinstance(base, ScorerExplainer) and not base.scorer_config.class_conditional:
            raise InvalidInputError(
                "This scorer explains one class (its map is the same for every target), so its class distribution "
                "would be uniform. Wrap a class-conditional scorer (ScorerConfig(class_conditional=True)) or a "
                "Captum explainer instead."
            )
        super().__init__(base.model)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.num_classes:
            raise InvalidInputError(f"k must be an integer in 1..{self.num_classes} (the classes), got {k!r}.")
        if not temperature > 0:
            raise InvalidInputError(f"temperature must be positive, got {temperature!r}.")
        if normalize not in NORMALIZATIONS:
            raise InvalidInputError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}.")
        self.base, self.k, self.temperature, self.tau, self.normalize = base, k, temperature, tau, normalize

    def class_sets(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(classes [B, k + 2], valid [B, k + 2])``: the target first, then the top-k and the least likely
        class; repeats of a class already listed are marked invalid (they do not count in K)."""
        order = logits.argsort(dim=-1, descending=True)
        classes = torch.cat([target.unsqueeze(1), order[:, : self.k], order[:, -1:]], dim=1)
        earlier_equal = classes.unsqueeze(2) == classes.unsqueeze(1)  # [B, j, i]: class j equals class i
        valid = ~torch.tril(earlier_equal, diagonal=-1).any(dim=2)
        return classes, valid

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            logits = self.classifier(**self.modality.classifier_inputs(inputs)).logits
        target = logits.argmax(dim=-1) if target is None else target
        classes, valid = self.class_sets(logits, target)
        batch, slots = classes.shape
        # every class of every sample in one call: slot-major copies of the batch
        repeated = {key: value.repeat(slots, *([1] * (value.dim() - 1))) for key, value in inputs.items()}
        maps = self.base.attribute(repeated, target=classes.T.reshape(-1)).attributions
        maps = maps.view(slots, batch, *maps.shape[1:]).transpose(0, 1)  # [B, K, *features]
        magnitude = maps.abs().flatten(2)
        if self.normalize == "shared_max":
            scale = magnitude.amax(dim=(1, 2), keepdim=True)
            magnitude = magnitude / torch.where(scale > 0, scale, torch.ones_like(scale))
        scores = (self.temperature * magnitude).masked_fill(~valid.unsqueeze(2), float("-inf"))
        share = scores.softmax(dim=1)[:, 0].view_as(maps[:, 0])  # P_t per feature
        count = valid.sum(dim=1).view(batch, *([1] * (share.dim() - 1))).float()
        kept = (share - 1.0 / count) > self.tau
        return maps[:, 0] * share * kept, logits
