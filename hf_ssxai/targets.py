"""The class a map explains: one check shared by the model's ``target_class`` and every explainer's ``target``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InvalidInputError

#: the share of a class-conditional scorer's training samples that explain a class other than the reference
OTHER_CLASS_SHARE = 0.5


def check_target(
    target: int | Sequence[int] | torch.Tensor | None,
    batch: int,
    num_classes: int,
    device: torch.device,
    name: str = "target",
) -> torch.Tensor | None:
    """``target`` (an int, a list or a ``[batch]`` tensor of class indices) as a ``[batch]`` long tensor (None stays
    None), or :class:`InvalidInputError` naming the range; float classes (0.5) are refused, never truncated."""
    if target is None:
        return None
    valid = f"valid classes are 0..{num_classes - 1} (this classifier has {num_classes} classes)"
    if isinstance(target, (list, tuple)):
        try:
            target = torch.tensor(target, device=device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise InvalidInputError(
                f"{name} must be class indices, one per sample; got {target!r}. {valid}."
            ) from error
    if isinstance(target, bool) or not isinstance(target, (int, torch.Tensor)):
        raise InvalidInputError(f"{name} must be an int, a [batch] tensor or None; got {target!r}. {valid}.")
    target = torch.as_tensor(target, device=device)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise InvalidInputError(f"{name} must hold integer class indices, got dtype {target.dtype}; {valid}.")
    if target.dim() == 0:
        target = target.expand(batch)
    if tuple(target.shape) != (batch,):
        raise InvalidInputError(
            f"{name} has shape {tuple(target.shape)} but the batch has {batch} samples; "
            "give one int for all samples or one per sample."
        )
    out_of_range = (target < 0) | (target >= num_classes)
    if out_of_range.any():
        raise InvalidInputError(
            f"{name} {target[out_of_range].tolist()} out of range: {name} must lie in [0, {num_classes}); {valid}."
        )
    return target.long()


def draw_training_classes(reference: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The classes a class-conditional scorer learns to explain in one batch: ``reference`` (the label or the
    prediction) for about half the samples, another class for the rest, drawn with the classifier's own
    probabilities (the reference left out). The classifier's belief picks the classes worth explaining: those
    with evidence in the input, such as the other objects of a scene, rather than absent ones, whose only
    "evidence" would be an adversarial mask."""
    num_classes = logits.shape[-1]
    if num_classes < 2:
        return reference
    probabilities = logits.detach().float().softmax(dim=-1).scatter(1, reference.unsqueeze(1), 0.0)
    probabilities = probabilities + 1e-12  # a one-hot prediction still leaves the other classes drawable
    other = torch.multinomial(probabilities, 1).squeeze(1)
    use_other = torch.rand(reference.shape, device=reference.device) < OTHER_CLASS_SHARE
    return torch.where(use_other, other, reference)
