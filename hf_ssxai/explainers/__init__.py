"""One interface for every attribution method: the learned scorer and the Captum baselines.

    from hf_ssxai.explainers import get_explainer

    explainer = get_explainer("integrated_gradients", model)         # model: an AutoModelWithScorer
    out = explainer.attribute(inputs)                                # target=None: the prediction
    out.attributions, out.feature_mask, out.target, out.logits

See ``docs/explainers.md`` for the methods, their defaults and what they do on GELU transformers, and
``docs/relevance.md`` for the relevance methods, which support some architectures only (:func:`supported_explainers`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from .relevance import ArchitectureExplainer, AttributionGuidedFactorization, TransformerRelevance
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
        AttributionGuidedFactorization,
        TransformerRelevance,
    )
}
EXPLAINER_NAMES: tuple[str, ...] = tuple(EXPLAINER_REGISTRY)


def supported_explainers(model: AutoModelWithScorer) -> tuple[str, ...]:
    """The registered methods that can explain ``model``'s classifier: every method but the relevance ones that do
    not know its architecture (``agf`` needs a ResNet, ``transformer_relevance`` a ViT or BERT-family model)."""
    return tuple(
        name
        for name, cls in EXPLAINER_REGISTRY.items()
        if not issubclass(cls, ArchitectureExplainer) or cls.unsupported_reason(model.classifier) is None
    )


def check_methods(methods: Sequence[str] | None, model: AutoModelWithScorer, *, allow_empty: bool = False) -> list[str]:
    """The methods asked for (registered names; none at all only with ``allow_empty``), or (None) every method that
    supports ``model``'s classifier."""
    if methods is None:
        return list(supported_explainers(model))
    if not (methods or allow_empty) or any(name not in EXPLAINER_NAMES for name in methods):
        raise InvalidInputError(f"Methods {list(methods)}: choose one or more of {', '.join(EXPLAINER_NAMES)}.")
    return list(methods)


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
    "ArchitectureExplainer",
    "AttributionGuidedFactorization",
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
    "TransformerRelevance",
    "check_methods",
    "count_forwards",
    "get_explainer",
    "guided_activations",
    "supported_explainers",
]
