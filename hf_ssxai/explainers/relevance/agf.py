"""Attribution Guided Factorization (AGF; Gur, Ali and Wolf, AAAI 2021) for transformers' ResNet classifiers.

Relevance starts at the classifier's linear head from a contrastive objective and travels back layer by layer
with the rules of :mod:`.rules`, together with the ordinary gradient of that objective. The walk follows the known
structure of ``ResNetForImageClassification`` (stem, stages of basic or bottleneck blocks, pooler, head), because
a block's residual addition is a plain ``+`` inside its ``forward`` that no generic module hook can see: the block
input forks into the layer branch and the shortcut, and the addition splits relevance between them.

The classifier runs once, through its own ``forward`` (hooks on its known modules record the layer inputs), so the
logits are the classifier's and the forward is counted like any other method's. See ``docs/relevance.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers import ResNetForImageClassification
from transformers.models.resnet.modeling_resnet import (
    ResNetBasicLayer,
    ResNetBottleNeckLayer,
    ResNetConvLayer,
    ResNetShortCut,
)

from ...modeling import AutoModelWithScorer
from .base import ArchitectureExplainer
from .rules import (
    absolute_conv_rule,
    bounded_conv_rule,
    factorized_conv_rule,
    safe_divide,
    sum_rule,
    z_rule,
)


def contrastive_objective(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``s_t = softmax_j(y_t · exp(−(y_j − y_t)² / (2σ²)))_t`` per sample, ``σ = max_j |y_j − y_t|`` (a constant).

    The closer another class' logit is to the target's, the more it competes with it, so the gradient of ``s_t``
    speaks for the target against its near rivals rather than for whatever the network sees in general.
    """
    chosen = logits.gather(1, target[:, None])
    difference = logits - chosen
    sigma = difference.detach().abs().amax(dim=1, keepdim=True)
    competing = chosen * torch.exp(-safe_divide(difference**2, 2 * sigma**2))
    return competing.softmax(dim=1).gather(1, target[:, None])[:, 0]


class _Recorder:
    """The inputs (graph tensors) and some outputs (detached copies) of known modules during one forward."""

    def __init__(self) -> None:
        self.inputs: dict[nn.Module, torch.Tensor] = {}
        self.outputs: dict[nn.Module, torch.Tensor] = {}
        self.handles: list[Any] = []

    def record_input(self, module: nn.Module) -> None:
        self.handles.append(module.register_forward_pre_hook(lambda m, args: self.inputs.__setitem__(m, args[0])))

    def record_output(self, module: nn.Module) -> None:
        # a copy: the block adds the shortcut into its branch's output in place right after
        self.handles.append(
            module.register_forward_hook(lambda m, args, out: self.outputs.__setitem__(m, out.detach().clone()))
        )


def _blocks(classifier: ResNetForImageClassification) -> list[ResNetBasicLayer | ResNetBottleNeckLayer]:
    """Every residual block of the encoder, in forward order."""
    return [block for stage in classifier.resnet.encoder.stages for block in stage.layers]


def _is_factorized(layer: ResNetConvLayer, block: nn.Module) -> bool:
    """Whether AGF factorizes at this convolution: not 1×1 and not the last of its block."""
    return layer is not block.layer[-1] and tuple(layer.convolution.kernel_size) != (1, 1)


class AttributionGuidedFactorization(ArchitectureExplainer):
    """AGF maps for a ``ResNetForImageClassification`` (basic or bottleneck blocks, ReLU); class-specific.

    Args:
        mask, activation_factors, gradient_factors, uniform, gate: the terms M, F_x, F_∇x, A and the sigmoid(C)
            gate of the factorized convolution rule (:func:`.rules.factorized_conv_rule`); all on by default,
            each can be switched off for an ablation. All off leaves the absolute rule alone.

    The map is the relevance at the normalized pixels, summed over colour channels (signed: positive speaks for
    the target). It is not divided by its maximum as in the paper: the metrics normalize every map anyway, and
    the raw values keep the sum of relevance, which the rules conserve.
    """

    name = "agf"
    changes_the_classifier = True  # hooks record the layer inputs and outputs

    def __init__(
        self,
        model: AutoModelWithScorer,
        *,
        mask: bool = True,
        activation_factors: bool = True,
        gradient_factors: bool = True,
        uniform: bool = True,
        gate: bool = True,
    ) -> None:
        super().__init__(model)
        self.terms = {
            "mask": mask,
            "activation_factors": activation_factors,
            "gradient_factors": gradient_factors,
            "uniform": uniform,
            "gate": gate,
        }

    @classmethod
    def unsupported_reason(cls, classifier: nn.Module) -> str | None:
        if not isinstance(classifier, ResNetForImageClassification):
            return (
                f"AGF follows the layers of transformers' ResNetForImageClassification (basic and bottleneck blocks); "
                f"{type(classifier).__name__} is not one. Other CNN families (ConvNeXt, RegNet, MobileNet, "
                "EfficientNet, BiT, ...) are not supported: see docs/relevance.md. Use a Captum explainer instead."
            )
        if classifier.config.hidden_act != "relu":
            return f"AGF's rules assume ReLU activations; this ResNet uses {classifier.config.hidden_act!r}."
        head = classifier.classifier
        if not (isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear)):
            return "AGF starts at the classifier's linear head; this ResNet has none (num_labels=0?)."
        return None

    @contextmanager
    def _recording(self) -> Iterator[_Recorder]:
        """Hooks on the known modules for the duration of one forward."""
        recorder = _Recorder()
        resnet = self.classifier.resnet
        for module in self.classifier.modules():
            if isinstance(module, (nn.Conv2d, nn.ReLU)):
                recorder.record_input(module)
        for module in (resnet.embedder.pooler, resnet.pooler, self.classifier.classifier[-1]):
            recorder.record_input(module)
        for block in _blocks(self.classifier):
            recorder.record_output(block.layer)
            recorder.record_output(block.shortcut)
        try:
            yield recorder
        finally:
            for handle in recorder.handles:
                handle.remove()

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pixels, forward_kwargs = self.modality.split_inputs(self.classifier, self.modality.classifier_inputs(inputs))
        pixels = pixels.detach().requires_grad_()  # the classifier is frozen: this puts its layers in the graph
        with self._recording() as recorder, torch.enable_grad():
            logits = self.classifier(pixel_values=pixels, **forward_kwargs).logits
            target = logits.argmax(dim=-1) if target is None else target
            head_input = recorder.inputs[self.classifier.classifier[-1]]
            factorized = [
                layer.convolution
                for block in _blocks(self.classifier)
                for layer in block.layer
                if _is_factorized(layer, block)
            ]
            needed = [head_input, *(recorder.inputs[conv] for conv in factorized)]
            gradients = torch.autograd.grad(contrastive_objective(logits, target).sum(), needed)
        conv_gradients = dict(zip(factorized, gradients[1:], strict=True))
        with torch.no_grad():
            relevance = self._propagate(recorder, conv_gradients, head_input.detach() * gradients[0])
        return self.modality.reduce_to_features(relevance), logits.detach()

    def _propagate(
        self, recorder: _Recorder, gradients: dict[nn.Module, torch.Tensor], relevance: torch.Tensor
    ) -> torch.Tensor:
        """Relevance at the head's input ``[B, C]`` -> at the pixels ``[B, channels, H, W]``."""
        resnet = self.classifier.resnet
        relevance = z_rule(resnet.pooler, recorder.inputs[resnet.pooler], relevance[:, :, None, None])
        for block in reversed(_blocks(self.classifier)):
            relevance = self._block(block, recorder, gradients, relevance)
        relevance = z_rule(resnet.embedder.pooler, recorder.inputs[resnet.embedder.pooler], relevance)
        return self._conv_layer(resnet.embedder.embedder, recorder, gradients, relevance, first=True)

    def _block(
        self, block: nn.Module, recorder: _Recorder, gradients: dict[nn.Module, torch.Tensor], relevance: torch.Tensor
    ) -> torch.Tensor:
        """A residual block: its ReLU, the addition split between branch and shortcut, and the fork summed."""
        relevance = z_rule(block.activation, recorder.inputs[block.activation], relevance)
        branch, shortcut = sum_rule((recorder.outputs[block.layer], recorder.outputs[block.shortcut]), relevance)
        for layer in reversed(block.layer):
            branch = self._conv_layer(layer, recorder, gradients, branch, factorized=_is_factorized(layer, block))
        if isinstance(block.shortcut, ResNetShortCut):  # its BatchNorm passes relevance through
            conv = block.shortcut.convolution
            shortcut = absolute_conv_rule(conv, recorder.inputs[conv].detach(), shortcut)
        return branch + shortcut

    def _conv_layer(
        self,
        layer: ResNetConvLayer,
        recorder: _Recorder,
        gradients: dict[nn.Module, torch.Tensor],
        relevance: torch.Tensor,
        *,
        first: bool = False,
        factorized: bool = False,
    ) -> torch.Tensor:
        """Convolution, BatchNorm (relevance passes unchanged) and activation, backwards."""
        if isinstance(layer.activation, nn.ReLU):
            relevance = z_rule(layer.activation, recorder.inputs[layer.activation], relevance)
        conv = layer.convolution
        x = recorder.inputs[conv].detach()
        if first:
            return bounded_conv_rule(conv, x, relevance)
        if factorized:
            return factorized_conv_rule(conv, x, gradients[conv], relevance, **self.terms)
        return absolute_conv_rule(conv, x, relevance)
