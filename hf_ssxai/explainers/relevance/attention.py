"""Transformer relevance, gradient-only form (Chefer, Gur and Wolf, ICCV 2021), for ViT and BERT-family classifiers.

Each block's attention probabilities ``A_b`` ``[heads, tokens, tokens]`` are weighted by their gradient for the
target class and averaged over heads, positive part only: ``Ā_b = mean_h (∇A_b ⊙ A_b)⁺``. Starting from the
identity, relevance between tokens accumulates block by block, ``R ← R + Ā_b R``; the map is the row of the
classification token: how much each token (patch) feeds what the head reads. Patch maps are upsampled to pixels.

Attention probabilities exist only in the eager attention implementation (SDPA and flash kernels never form
them), so the classifier is switched to eager for the call and switched back after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    BertForSequenceClassification,
    DeiTForImageClassification,
    DistilBertForSequenceClassification,
    ElectraForSequenceClassification,
    RobertaForSequenceClassification,
    ViTForImageClassification,
)

from ...errors import UnsupportedClassifierError
from ...modalities.image import ImageModality, _as_pair
from .base import ArchitectureExplainer

#: classifiers whose head reads the first token (CLS / <s>) after self-attention blocks, as the method assumes
SUPPORTED_CLASSIFIERS = (
    BertForSequenceClassification,
    RobertaForSequenceClassification,
    DistilBertForSequenceClassification,
    ElectraForSequenceClassification,
    ViTForImageClassification,
    DeiTForImageClassification,
)


def attention_rollout(attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """``R`` ``[B, T, T]`` after every block: ``R = I``, then ``R ← R + mean_h((∇A_b ⊙ A_b)⁺) R`` in block order.

    ``attentions`` and ``gradients``: one ``[B, heads, T, T]`` tensor per block, first block first.
    """
    batch, _, tokens, _ = attentions[0].shape
    eye = torch.eye(tokens, dtype=attentions[0].dtype, device=attentions[0].device)
    relevance = eye.expand(batch, tokens, tokens).clone()
    for attention, gradient in zip(attentions, gradients, strict=True):
        weighted = (gradient * attention).clamp(min=0).mean(dim=1)
        relevance = relevance + weighted @ relevance
    return relevance


@contextmanager
def eager_attention(classifier: nn.Module) -> Iterator[None]:
    """Run ``classifier`` with eager attention inside the block (so it can return attention probabilities)."""
    previous = classifier.config._attn_implementation
    if previous != "eager":
        classifier.set_attn_implementation("eager")
        if classifier.config._attn_implementation != "eager":
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} cannot switch to eager attention, which transformer relevance needs "
                "(it reads attention probabilities). Load it with attn_implementation='eager'."
            )
    try:
        yield
    finally:
        if previous != "eager":
            classifier.set_attn_implementation(previous)


class TransformerRelevance(ArchitectureExplainer):
    """Gradient-weighted attention relevance for ViT, DeiT and BERT-family sequence classifiers; class-specific.

    Text maps are the classification token's row over the tokens (special tokens and padding are then zeroed as
    for every method); image maps are its row over the patches, upsampled bilinearly to the pixels. One forward
    and one backward per batch. Values are non-negative.
    """

    name = "transformer_relevance"
    changes_the_classifier = True  # it switches the attention to eager

    @classmethod
    def unsupported_reason(cls, classifier: nn.Module) -> str | None:
        if isinstance(classifier, SUPPORTED_CLASSIFIERS):
            return None
        names = ", ".join(model.__name__ for model in SUPPORTED_CLASSIFIERS)
        return (
            f"Transformer relevance reads the first token's row of self-attention in classifiers whose head uses that "
            f"token: {names}. {type(classifier).__name__} is not one of them (see docs/relevance.md); use a Captum "
            "explainer instead."
        )

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        maskable, forward_kwargs = self.modality.split_inputs(self.classifier, self.modality.classifier_inputs(inputs))
        maskable = maskable.detach().requires_grad_()  # the classifier is frozen: this puts attention in the graph
        with eager_attention(self.classifier), torch.enable_grad():
            outputs = self.modality.run_from_maskable(self.classifier, maskable, forward_kwargs, output_attentions=True)
            logits, attentions = outputs.logits, outputs.attentions
            target = logits.argmax(dim=-1) if target is None else target
            gradients = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), attentions)
        first_row = attention_rollout(attentions, gradients)[:, 0].detach()  # [B, T]
        if isinstance(self.modality, ImageModality):
            return self._to_pixels(first_row, feature_mask.shape[1:]), logits.detach()
        return first_row, logits.detach()

    def _to_pixels(self, row: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """The first token's row over the patches ``[B, prefix + patches]`` as a pixel map ``[B, H, W]``."""
        patch = _as_pair(self.classifier.config.patch_size)
        grid = ImageModality._tokens_to_grid(row.unsqueeze(-1), size[0], size[1], patch)  # [B, 1, gh, gw]
        return F.interpolate(grid, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
