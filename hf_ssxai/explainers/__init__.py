"""One interface for every attribution method: the learned scorer and the Captum baselines.

    from hf_ssxai.explainers import get_explainer

    explainer = get_explainer("integrated_gradients", model)         # model: an AutoModelWithScorer
    out = explainer.attribute(inputs)                                # target=None: the prediction
    out.attributions, out.feature_mask, out.target, out.logits

See ``docs/explainers.md`` for the methods, their defaults and what they do on GELU transformers.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from ..modeling import AutoModelWithScorer
from .activations import ACTIVATION_TYPES
from .base import AttributionOutput, Explainer
from .captum_methods import (
    BaselineSetExplainer,
    CaptumExplainer,
    DeepLift,
    DeepLiftShap,
    GradientShap,
    IntegratedGradients,
    Saliency,
)
from .class_distribution import ClassDistribution
from .cost import ForwardCount, count_forwards
from .guided import GuidedBackprop, guided_activations
from .scorer import ScorerExplainer

EXPLAINER_REGISTRY: dict[str, type[Explainer]] = {
    cls.name: cls
    for cls in (
        ScorerExplainer,
        Saliency,
        GuidedBackprop,
        IntegratedGradients,
        DeepLift,
        DeepLiftShap,
        GradientShap,
    )
}
EXPLAINER_NAMES: tuple[str, ...] = tuple(EXPLAINER_REGISTRY)


def get_explainer(name: str, model: AutoModelWithScorer, **kwargs: Any) -> Explainer:
    """Build the explainer registered under ``name`` for ``model``; ``kwargs`` go to its constructor
    (e.g. ``baselines=`` for ``"deeplift_shap"`` and ``"gradient_shap"``, ``n_steps=`` for IG)."""
    try:
        cls = EXPLAINER_REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"Unknown explainer {name!r}; known explainers: {', '.join(EXPLAINER_NAMES)}."
        ) from None
    return cls(model, **kwargs)


__all__ = [
    "ACTIVATION_TYPES",
    "EXPLAINER_NAMES",
    "EXPLAINER_REGISTRY",
    "AttributionOutput",
    "BaselineSetExplainer",
    "CaptumExplainer",
    "ClassDistribution",
    "DeepLift",
    "DeepLiftShap",
    "Explainer",
    "ForwardCount",
    "GradientShap",
    "GuidedBackprop",
    "IntegratedGradients",
    "Saliency",
    "ScorerExplainer",
    "count_forwards",
    "get_explainer",
    "guided_activations",
]
