"""What large classifiers need from AutoModelWithScorer: FSDP units and activation checkpointing.

A scorer step keeps the frozen classifier's activations of the *masked* forward for the backward to the masked
inputs; for a large classifier they decide whether training fits. transformers checkpoints a layer only when the
layer is in train mode (``GradientCheckpointingLayer``), and the classifier inside ``AutoModelWithScorer`` stays in
eval mode on purpose (no dropout, frozen norms). So checkpointing here replaces the ``forward`` of each of the
classifier's layers, on the instance, with one that runs the layer under ``torch.utils.checkpoint`` whenever
gradients are being recorded, whatever the mode: the masked forward keeps one input per layer instead of every
activation, and the backward recomputes each layer. Forwards without gradients (the prediction) run unchanged.
``benchmarks/large_classifier_memory.py`` measures what it saves (docs/recipes.md).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import save_on_cpu
from torch.utils.checkpoint import checkpoint
from transformers.modeling_layers import GradientCheckpointingLayer

from .errors import ConfigError, UnsupportedClassifierError

#: layer arguments that carry a key/value cache: a recomputed layer would write it a second time, so they are dropped
CACHE_ARGUMENTS = ("cache", "layer_past", "past_key_value", "past_key_values")


def _is_layer(module: nn.Module) -> bool:
    """Whether ``module`` is one of a transformers model's repeated blocks (what transformers checkpoints)."""
    return isinstance(module, GradientCheckpointingLayer)


def checkpointable_layers(classifier: nn.Module) -> list[nn.Module]:
    """The repeated blocks of ``classifier`` that transformers checkpoints (its ``GradientCheckpointingLayer``s), in
    order; a :class:`UnsupportedClassifierError` when it has none."""
    layers = [module for module in classifier.modules() if _is_layer(module)]
    if not layers:
        raise UnsupportedClassifierError(
            f"{type(classifier).__name__} has no layers transformers can checkpoint (GradientCheckpointingLayer), "
            "so activation checkpointing cannot apply to it. Train without activation_checkpointing, or with a "
            "smaller batch."
        )
    return layers


def _checkpointed_forward(function: Callable[..., Any], offload: bool, **checkpoint_kwargs: Any) -> Callable:
    """A ``forward`` for a layer (bound to it) that runs ``function`` under ``checkpoint`` while gradients are
    recorded; with ``offload`` the inputs it keeps wait in host memory."""

    def forward(layer: nn.Module, *args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return function(layer, *args, **kwargs)
        kwargs = {**kwargs, **{name: None for name in CACHE_ARGUMENTS if name in kwargs}}
        if "use_cache" in kwargs:
            kwargs["use_cache"] = False
        keep = save_on_cpu(pin_memory=torch.cuda.is_available()) if offload else nullcontext()
        with keep:
            return checkpoint(functools.partial(function, layer, **kwargs), *args, **checkpoint_kwargs)

    return forward


class ScalingMixin:
    """FSDP units and activation checkpointing for :class:`~hf_ssxai.AutoModelWithScorer` (``self.classifier``)."""

    classifier: nn.Module

    @property
    def _no_split_modules(self) -> list[str]:
        """The classes of the classifier's repeated layers, which accelerate's ``TRANSFORMER_BASED_WRAP`` makes FSDP
        units (without them the whole model is one unit, gathered whole for every forward). Only the layers: the
        embeddings stay in the root unit, whose weights are gathered for the whole forward, because the masked forward
        calls the word embeddings directly (outside their parent module, whose FSDP hooks would gather them)."""
        return sorted({type(module).__name__ for module in self.classifier.modules() if _is_layer(module)})

    @property
    def is_activation_checkpointing(self) -> bool:
        """Whether the classifier's masked forward is checkpointed (:meth:`activation_checkpointing_enable`)."""
        return any(_is_layer(module) and "forward" in vars(module) for module in self.classifier.modules())

    def activation_checkpointing_enable(
        self,
        activation_checkpointing_kwargs: dict[str, Any] | None = None,
        every_n_layers: int = 1,
        offload: bool = False,
    ) -> None:
        """Checkpoint every ``every_n_layers``-th layer of the frozen classifier whenever it runs with gradients (the
        masked forward of training), in eval mode too; ``offload`` keeps the checkpointed inputs in host memory.
        ``activation_checkpointing_kwargs`` go to ``torch.utils.checkpoint.checkpoint`` (default
        ``use_reentrant=False``). ``TrainingArguments(activation_checkpointing=True)`` calls this, as for any
        transformers model; the outputs and gradients are those without checkpointing."""
        if every_n_layers < 1:
            raise ConfigError(f"every_n_layers must be 1 or more (1 checkpoints every layer), got {every_n_layers}.")
        checkpoint_kwargs = {"use_reentrant": False, **(activation_checkpointing_kwargs or {})}
        self.activation_checkpointing_disable()
        for layer in checkpointable_layers(self.classifier)[::every_n_layers]:
            forward = _checkpointed_forward(type(layer).forward, offload, **checkpoint_kwargs)
            layer.forward = types.MethodType(forward, layer)

    def activation_checkpointing_disable(self) -> None:
        """Run the classifier's layers without checkpointing again."""
        for module in self.classifier.modules():
            if _is_layer(module):
                vars(module).pop("forward", None)
