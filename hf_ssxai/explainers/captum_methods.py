"""Captum's attribution methods, computed in the masking space and reduced to the scorer's feature units.

Every method differentiates the classifier as a function of the *maskable* tensor (word embeddings
passed through ``inputs_embeds``, or normalized ``pixel_values``); the other classifier arguments
(``attention_mask``, ...) travel as Captum ``additional_forward_args``, which Captum expands together
with the inputs when it grows the batch (integration steps, baseline samples). Non-features (special
tokens, padding) are held at their input value inside the forward, so their gradient is exactly 0 and
no baseline ever replaces them: only features vary, as when the scorer's mask is applied.
"""

from __future__ import annotations

import logging
import warnings
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import captum.attr
import torch
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import nn

from ..errors import InvalidInputError
from ..modalities import Modality
from ..modalities.base import each_map, first_map
from ..modeling import AutoModelWithScorer
from .activations import ACTIVATION_TYPES
from .base import Explainer

logger = logging.getLogger(__name__)

#: fixed seed for picking ``num_baselines`` of the given baseline samples (reproducible baselines)
BASELINE_SUBSET_SEED = 0


class MaskableForward(nn.Module):
    """The classifier as a function of the maskable tensor: what Captum differentiates.

    ``forward(maskable, keep, fixed, *kwarg_values)``: positions where ``keep`` is False take ``fixed``
    (the input's own values), and ``kwarg_values`` are the classifier's other arguments, named by
    ``kwarg_names``. A multimodal model's maskable tensors are one Captum input per modality (``parts`` names
    them): ``forward(*maskables, *keeps, *fixeds, *kwarg_values)``. With ``explain_prediction`` it returns the
    logit of each row's predicted class (so Captum needs no target); the latest logits are kept in :attr:`logits`.
    """

    def __init__(
        self,
        classifier: nn.Module,
        modality: Modality,
        kwarg_names: tuple[str, ...],
        explain_prediction: bool = False,
        parts: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.classifier = classifier
        self.modality = modality
        self.kwarg_names = kwarg_names
        self.explain_prediction = explain_prediction
        self.parts = parts
        self.logits: torch.Tensor | None = None

    def forward(self, *arguments: Any) -> torch.Tensor:
        count = len(self.parts) if self.parts else 1
        maskables, keeps, fixeds = (arguments[i * count : (i + 1) * count] for i in range(3))
        kwargs = dict(zip(self.kwarg_names, arguments[3 * count :], strict=True))
        # Captum's noise and baselines may arrive in float32 beside a half-precision model: match the input's dtype
        kept = [torch.where(k, m.to(f.dtype), f) for m, k, f in zip(maskables, keeps, fixeds, strict=True)]
        maskable = dict(zip(self.parts, kept, strict=True)) if self.parts else kept[0]
        logits = self.modality.forward_from_maskable(self.classifier, maskable, kwargs)
        self.logits = logits.detach()
        if self.explain_prediction:
            return logits.gather(-1, logits.argmax(dim=-1, keepdim=True)).squeeze(-1)
        return logits


def _zeros_like(maskable: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The zero (masking) baseline of a Captum input or of a tuple of them."""
    return tuple(map(torch.zeros_like, maskable)) if isinstance(maskable, tuple) else torch.zeros_like(maskable)


class CaptumExplainer(Explainer):
    """Shared plumbing of the Captum methods: split inputs, run Captum on the whole batch, reduce to features."""

    #: True when Captum runs the classifier once, on the input itself (gradient methods): that forward then
    #: also gives the logits and the prediction, so no extra forward is spent on them
    single_forward_at_input: ClassVar[bool] = False

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            maskable, forward_kwargs = self.modality.split_inputs(
                self.classifier, self.modality.classifier_inputs(inputs)
            )
        # a multimodal model's maskable tensors (a dict) become one Captum input per modality, in a tuple
        parts = tuple(maskable) if isinstance(maskable, Mapping) else None
        as_tuple = (lambda value: tuple(value[name] for name in parts)) if parts else (lambda value: (value,))
        fixed = tuple(t.detach() for t in as_tuple(maskable))  # the input's values, held at non-features
        leaves = tuple(t.detach().requires_grad_() for t in fixed)
        captum_inputs = leaves if parts else leaves[0]
        single = self.single_forward_at_input
        forward = MaskableForward(
            self.classifier, self.modality, tuple(forward_kwargs), single and target is None, parts
        )
        args = (*as_tuple(self.modality.expand_scores(feature_mask)), *fixed, *forward_kwargs.values())
        if not single:
            with torch.no_grad():
                logits = forward(*leaves, *args)
            target = logits.argmax(dim=-1) if target is None else target
        attributions = self._captum_attribute(forward, captum_inputs, target, args)
        if single:
            logits = forward.logits
        if parts:
            attributions = dict(zip(parts, attributions, strict=True))
        return self.modality.reduce_to_features(attributions), logits

    @abstractmethod
    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        """Captum's attributions in the maskable space (same shape as ``maskable``)."""


class Saliency(CaptumExplainer):
    """Gradient of the target logit w.r.t. the maskable tensor (Captum ``Saliency``).

    ``abs=True`` (Captum's default) takes ``|gradient|`` before a feature's channels are summed, so a token's
    value is the L1 norm of its embedding gradient. Keep it for text: embeddings that enter a LayerNorm (BERT,
    RoBERTa, DistilBERT, ELECTRA) have a gradient that sums to exactly 0 over the embedding dimension, so the
    signed sum (``abs=False``) is 0 up to rounding.
    """

    name = "saliency"
    single_forward_at_input = True

    def __init__(self, model: AutoModelWithScorer, abs: bool = True) -> None:
        super().__init__(model)
        self.abs = abs

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        return captum.attr.Saliency(forward).attribute(
            maskable, target=target, abs=self.abs, additional_forward_args=args
        )


class IntegratedGradients(CaptumExplainer):
    """Integrated Gradients from the zero baseline (Captum ``IntegratedGradients``).

    ``internal_batch_size`` bounds how many of the ``batch × n_steps`` path points go through the
    classifier at once (None: all at once).
    """

    name = "integrated_gradients"

    def __init__(
        self,
        model: AutoModelWithScorer,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
    ) -> None:
        super().__init__(model)
        self.n_steps = n_steps
        self.method = method
        self.internal_batch_size = internal_batch_size

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        return captum.attr.IntegratedGradients(forward).attribute(
            maskable,
            baselines=_zeros_like(maskable),
            target=target,
            additional_forward_args=args,
            n_steps=self.n_steps,
            method=self.method,
            internal_batch_size=self.internal_batch_size,
        )


def _warn_unsupported_deeplift_layers(classifier: nn.Module) -> None:
    """Log which nonlinear modules Captum's DeepLift back-propagates with their plain gradient."""
    plain = Counter(
        type(module).__name__
        for module in classifier.modules()
        if isinstance(module, (*ACTIVATION_TYPES, nn.LayerNorm, nn.GroupNorm))
        and type(module) not in SUPPORTED_NON_LINEAR
    )
    if plain:
        logger.warning(
            "DeepLift: Captum has DeepLift rules only for %s; in %s, %s (and functional ops such as attention "
            "softmax) pass their plain gradient. See docs/explainers.md.",
            ", ".join(sorted(t.__name__ for t in SUPPORTED_NON_LINEAR)),
            type(classifier).__name__,
            ", ".join(f"{name} ×{count}" for name, count in sorted(plain.items())),
        )


@contextmanager
def _quiet_deeplift() -> Iterator[None]:
    """Silence the notice Captum's DeepLift prints on every call about setting its hooks."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Setting forward, backward hooks", category=UserWarning)
        yield


class DeepLift(CaptumExplainer):
    """DeepLIFT (rescale rule) from the zero baseline (Captum ``DeepLift``): one forward of input and baseline."""

    name = "deeplift"
    changes_the_classifier = True  # Captum hooks every nonlinear module

    def __init__(self, model: AutoModelWithScorer) -> None:
        super().__init__(model)
        _warn_unsupported_deeplift_layers(self.classifier)

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        with _quiet_deeplift():
            return captum.attr.DeepLift(forward).attribute(
                maskable, baselines=_zeros_like(maskable), target=target, additional_forward_args=args
            )


class BaselineSetExplainer(CaptumExplainer):
    """A method whose baselines are samples of the data (the SHAP family).

    ``baselines`` are classifier inputs (e.g. a batch of training samples). Up to ``num_baselines`` of them
    are used (a fixed-seed random subset when more are given). They are taken into the masking space once,
    with their own non-features zeroed. For text, sample ``j``'s token embedding at position ``i`` is the
    baseline for position ``i`` of every explained sequence: baselines longer than the explained batch are
    truncated, shorter ones padded with zero embeddings (the masking baseline). The explained sequence's own
    special tokens and padding are never replaced (see the module docstring).
    """

    def __init__(self, model: AutoModelWithScorer, *, baselines: dict[str, torch.Tensor], num_baselines: int = 20):
        super().__init__(model)
        if not isinstance(baselines, Mapping):
            raise InvalidInputError(
                f"baselines must be classifier inputs (a dict such as the processor's output, e.g. "
                f"{{'pixel_values': tensor}}), got {type(baselines).__name__}."
            )
        self.modality.validate_inputs(self.classifier, baselines)
        feature_mask = self.modality.feature_mask(baselines, self.scorer_config)
        count, device = first_map(feature_mask).shape[0], first_map(feature_mask).device
        if count > num_baselines:
            generator = torch.Generator().manual_seed(BASELINE_SUBSET_SEED)
            chosen = torch.randperm(count, generator=generator)[:num_baselines].to(device)
            baselines = {key: value[chosen] for key, value in baselines.items()}
            feature_mask = each_map(lambda mask: mask[chosen], feature_mask)
        with torch.no_grad():
            maskable, _ = self.modality.split_inputs(self.classifier, self.modality.classifier_inputs(baselines))
        #: ``[num_baselines, *sample_shape]`` in the masking space, non-features zeroed (a dict per modality for
        #: multimodal models)
        self.baselines = each_map(
            lambda values, keep: values * keep.to(values.dtype), maskable, self.modality.expand_scores(feature_mask)
        )

    def _baselines_like(
        self, maskable: torch.Tensor | tuple[torch.Tensor, ...]
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The baseline samples shaped like ``maskable``'s samples (one Captum input, or one per modality)."""
        if isinstance(maskable, tuple):
            return tuple(
                self._part_baselines(self.modality.parts[name], self.baselines[name], part)
                for name, part in zip(self.baselines, maskable, strict=True)
            )
        return self._part_baselines(self.modality, self.baselines, maskable)

    @staticmethod
    def _part_baselines(modality: Modality, baselines: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """One modality's baseline samples shaped like ``maskable``'s samples, on its device and dtype."""
        baselines = modality.align_baselines(baselines.to(device=maskable.device, dtype=maskable.dtype), maskable)
        if baselines.shape[1:] != maskable.shape[1:]:
            raise InvalidInputError(
                f"Baseline samples have shape {tuple(baselines.shape[1:])} but the explained inputs have "
                f"{tuple(maskable.shape[1:])}; prepare both with the same image processor settings."
            )
        return baselines


class DeepLiftShap(BaselineSetExplainer):
    """DeepLIFT averaged over baseline samples (Captum ``DeepLiftShap``): ``2 × num_baselines`` forwards per sample."""

    name = "deeplift_shap"
    changes_the_classifier = True  # Captum hooks every nonlinear module

    def __init__(self, model: AutoModelWithScorer, *, baselines: dict[str, torch.Tensor], num_baselines: int = 20):
        super().__init__(model, baselines=baselines, num_baselines=num_baselines)
        _warn_unsupported_deeplift_layers(self.classifier)

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        with _quiet_deeplift():
            return captum.attr.DeepLiftShap(forward).attribute(
                maskable, baselines=self._baselines_like(maskable), target=target, additional_forward_args=args
            )


class GradientShap(BaselineSetExplainer):
    """Expected gradients (Captum ``GradientShap``): ``n_samples`` random points between the input and a random
    baseline sample, optionally with Gaussian noise of std ``stdevs``. Captum draws the baselines and the points
    with numpy's global generator: ``numpy.random.seed(...)`` before :meth:`attribute` repeats a result."""

    name = "gradient_shap"

    def __init__(
        self,
        model: AutoModelWithScorer,
        *,
        baselines: dict[str, torch.Tensor],
        num_baselines: int = 20,
        n_samples: int = 50,
        stdevs: float = 0.0,
    ) -> None:
        super().__init__(model, baselines=baselines, num_baselines=num_baselines)
        self.n_samples = n_samples
        self.stdevs = stdevs

    def _captum_attribute(
        self, forward: MaskableForward, maskable: torch.Tensor, target: torch.Tensor | None, args: tuple[Any, ...]
    ) -> torch.Tensor:
        return captum.attr.GradientShap(forward).attribute(
            maskable,
            baselines=self._baselines_like(maskable),
            n_samples=self.n_samples,
            stdevs=self.stdevs,
            target=target,
            additional_forward_args=args,
        )
