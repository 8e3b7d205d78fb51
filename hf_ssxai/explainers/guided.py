"""Guided Backpropagation that works on any activation module, not only ``nn.ReLU``.

Captum's ``GuidedBackprop`` overrides only ``nn.ReLU``, so on GELU transformers (BERT, ViT, ...) it
silently returns the plain gradient. Here the guided rule (the gradient w.r.t. an activation's input
is clamped at 0: only positive gradients pass backwards) is attached to every activation module of
:data:`~hf_ssxai.explainers.activations.ACTIVATION_TYPES`. On ReLU it is exactly Captum's rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import UnsupportedClassifierError
from ..modeling import AutoModelWithScorer
from .activations import ACTIVATION_TYPES, find_activations
from .captum_methods import MaskableForward, Saliency


def _guide(module: nn.Module, args: tuple[Any, ...]) -> tuple[torch.Tensor] | None:
    """Forward pre-hook: feed the activation a private copy of its input whose gradient is clamped at 0.

    The copy is used by this module only, so its gradient is the gradient w.r.t. this activation's input
    (not the sum with residual paths that share the original tensor); in-place activations are safe too.
    """
    if len(args) != 1 or not isinstance(args[0], torch.Tensor) or not args[0].requires_grad:
        return None
    private = args[0].clone()
    private.register_hook(lambda gradient: gradient.clamp(min=0))
    return (private,)


@contextmanager
def guided_activations(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Inside the block, backward passes through ``model``'s activation modules follow the guided rule."""
    modules = find_activations(model)
    handles = [module.register_forward_pre_hook(_guide) for module in modules]
    try:
        yield modules
    finally:
        for handle in handles:
            handle.remove()


class GuidedBackprop(Saliency):
    """Guided Backpropagation on every activation module.

    ``abs=True`` (default) takes the absolute guided gradient before summing a feature's channels, as
    :class:`Saliency` does; ``abs=False`` is Captum's signed ``GuidedBackprop`` (on ReLU models equal to it).
    Activations called as functions (``F.gelu`` inside a module's forward) cannot be found and keep their
    plain gradient; a classifier with no activation module at all is refused.
    """

    name = "guided_backprop"
    changes_the_classifier = True  # hooks on the activation modules

    def __init__(self, model: AutoModelWithScorer, abs: bool = True) -> None:
        super().__init__(model, abs=abs)
        if not find_activations(self.classifier):
            raise UnsupportedClassifierError(
                f"GuidedBackprop found no activation module in {type(self.classifier).__name__} (looked for "
                f"{', '.join(sorted({t.__name__ for t in ACTIVATION_TYPES}))}); its activations are functional, "
                "so the guided rule cannot attach and the result would equal Saliency(abs=False)."
            )

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        with guided_activations(self.classifier):
            return super()._captum_attribute(forward, maskable, target, args)
