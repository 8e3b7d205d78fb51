"""The interface every explainer shares: ``attribute(inputs, target) -> AttributionOutput``.

An explainer is built from an :class:`~hf_ssxai.AutoModelWithScorer`, which carries the classifier,
its modality and the scorer config (special tokens included), so every explainer scores the same
feature units under the same valid-feature mask as the scorer does.
"""

from __future__ import annotations

import copy
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from transformers.utils import ModelOutput

from ..errors import UnsupportedClassifierError
from ..finite import require_finite
from ..modalities.base import each_map, first_map
from ..modeling import AutoModelWithScorer
from ..targets import check_target


@dataclass
class AttributionOutput(ModelOutput):
    """Output of :meth:`Explainer.attribute`.

    Args:
        attributions: raw signed values, one per feature, ``[batch, tokens]`` or ``[batch, height, width]``;
            exactly 0 where ``feature_mask`` is False. Not normalized (metrics do that). Text-image models: one
            map per modality, ``{"text": ..., "image": ...}``.
        feature_mask: which features are valid (not padding, not special tokens), same shape (a dict likewise).
        target: the class each map explains, ``[batch]`` (the prediction when none was asked for).
        logits: the classifier's logits on the full input, ``[batch, classes]``.
    """

    attributions: torch.Tensor | None = None
    feature_mask: torch.Tensor | None = None
    target: torch.Tensor | None = None
    logits: torch.Tensor | None = None


#: what to do when an explainer's map is not finite although the classifier's logits are
EXPLAINER_FIX = (
    "its gradients overflowed on these inputs; run it in float32 (load with dtype=torch.float32), check that the "
    "inputs come from the classifier's own tokenizer or image processor, or use another explainer"
)


def weight_sharing_twin(module: nn.Module) -> nn.Module:
    """A copy of ``module``'s structure and config that shares its parameters and buffers (no weight is copied).

    Hooks installed on the twin and settings changed on it (the attention implementation) never reach whoever else
    runs ``module`` meanwhile, such as a pipeline in another thread. Hooks already on ``module`` (a forward counter)
    carry over.
    """
    shared = {id(tensor): tensor for tensor in itertools.chain(module.parameters(), module.buffers())}
    return copy.deepcopy(module, shared)


class Explainer(ABC):
    """Base class of all attribution methods (Captum-like: construct once, call :meth:`attribute` per batch).

    The model may be shared: explainers that install hooks or change a setting of the classifier
    (:attr:`changes_the_classifier`) do so on a :func:`weight_sharing_twin`, so other threads running the same model
    see no hook and no change. One explainer object serves one thread at a time.
    """

    #: the name the method is registered under (see :func:`hf_ssxai.explainers.get_explainer`)
    name: ClassVar[str]
    #: whether the method installs hooks on the classifier or changes its settings while it runs (it then runs on a
    #: twin that shares the classifier's weights)
    changes_the_classifier: ClassVar[bool] = False

    def __init__(self, model: AutoModelWithScorer) -> None:
        if not isinstance(model, AutoModelWithScorer):
            raise UnsupportedClassifierError(
                f"Explainers are built from an AutoModelWithScorer, got {type(model).__name__}. Wrap a plain "
                "classifier first: AutoModelWithScorer.from_classifier(classifier, processor=tokenizer_or_processor)."
            )
        self.model = model
        self.classifier = model.classifier
        self.modality = model.modality
        self.scorer_config = model.scorer_config

    @property
    def num_classes(self) -> int:
        """Number of output classes of the classifier."""
        return int(self.classifier.config.num_labels)

    def attribute(self, inputs: dict[str, torch.Tensor], target: int | torch.Tensor | None = None) -> AttributionOutput:
        """Explain a batch: one map per sample for class ``target`` (an int, a ``[batch]`` tensor, or None for
        the classifier's prediction). ``inputs`` are the classifier's own (tokenizer or image processor output);
        ``labels``, if present (a collated training batch), are ignored."""
        inputs = {key: value for key, value in inputs.items() if key != "labels"}
        self.modality.validate_inputs(self.classifier, inputs)
        feature_mask = self.modality.feature_mask(inputs, self.scorer_config)
        target = self._check_target(target, first_map(feature_mask).shape[0], first_map(feature_mask).device)
        with self._classifier_to_change():
            attributions, logits = self._attribute(inputs, feature_mask, target)
        require_finite(logits, f"The classifier {type(self.classifier).__name__}")
        each_map(
            lambda scores, valid: require_finite(scores, f"The {self.name!r} explainer", EXPLAINER_FIX, valid),
            attributions,
            feature_mask,
        )
        if target is None:
            target = logits.argmax(dim=-1)
        return AttributionOutput(
            attributions=each_map(lambda a, m: a.detach().masked_fill(~m, 0.0), attributions, feature_mask),
            feature_mask=feature_mask,
            target=target,
            logits=logits.detach(),
        )

    @contextmanager
    def _classifier_to_change(self) -> Iterator[None]:
        """Inside the block, ``self.classifier`` is a twin of the model's classifier when the method changes it."""
        if not self.changes_the_classifier:
            yield
            return
        original, self.classifier = self.classifier, weight_sharing_twin(self.classifier)
        try:
            yield
        finally:
            self.classifier = original

    @abstractmethod
    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(attributions [batch, *feature_shape], logits of the full input)``; ``target`` None = prediction."""

    def _check_target(self, target: int | torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
        """``target`` as a ``[batch]`` long tensor (None stays None), or :class:`InvalidInputError` naming the range."""
        return check_target(target, batch, self.num_classes, device)
