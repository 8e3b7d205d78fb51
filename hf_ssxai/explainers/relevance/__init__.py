"""Relevance-propagation explainers that follow the classifier's own layers (``docs/relevance.md``):

- :class:`AttributionGuidedFactorization` (``"agf"``): transformers' ResNet classifiers;
- :class:`TransformerRelevance` (``"transformer_relevance"``): ViT, DeiT and BERT-family classifiers.
"""

from .agf import AttributionGuidedFactorization, contrastive_objective
from .attention import TransformerRelevance, attention_rollout, eager_attention
from .base import ArchitectureExplainer

__all__ = [
    "ArchitectureExplainer",
    "AttributionGuidedFactorization",
    "TransformerRelevance",
    "attention_rollout",
    "contrastive_objective",
    "eager_attention",
]
