"""Explainers that follow a classifier's own layers, so they support only the architectures they know."""

from __future__ import annotations

from abc import abstractmethod

from torch import nn

from ...errors import UnsupportedClassifierError
from ...modeling import AutoModelWithScorer
from ..base import Explainer


class ArchitectureExplainer(Explainer):
    """An explainer for some classifier families only; building it for another raises
    :class:`~hf_ssxai.UnsupportedClassifierError` with the reason. :func:`hf_ssxai.explainers.supported_explainers`
    lists the methods a classifier supports."""

    def __init__(self, model: AutoModelWithScorer) -> None:
        super().__init__(model)
        reason = self.unsupported_reason(self.classifier)
        if reason is not None:
            raise UnsupportedClassifierError(reason)

    @classmethod
    @abstractmethod
    def unsupported_reason(cls, classifier: nn.Module) -> str | None:
        """Why this method cannot explain ``classifier`` (what to use instead), or None when it can."""
