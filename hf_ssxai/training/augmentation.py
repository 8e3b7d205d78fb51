"""Masking augmentation for phase 1 (fine-tuning the classifier), so masked inputs are in-distribution.

A classifier that never saw masked inputs can react to the *shape* of a mask rather than to what
it keeps. A scorer trained against such a classifier learns to exploit that: its maps still keep
the prediction (low delta) but need not cover the evidence. Fine-tuning the classifier with random
masks in the same masking space (zeroed word embeddings, mid-grey pixels) removes the shortcut; see
``docs/training.md`` for the measured difference. The idea is the one behind ROAR (Hooker et al.,
2019) and EVAL-X (Jethani et al., 2021).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import InvalidInputError
from ..modalities import Modality, get_modality, infer_modality


@contextmanager
def masking_augmentation(
    classifier: nn.Module,
    probability: float = 0.5,
    special_token_ids: list[int] | None = None,
    seed: int | None = None,
) -> Iterator[None]:
    """While active, each training-mode forward masks a random share of each sample's features.

    A sample is masked with ``probability`` (else left whole); its keep rate is drawn uniformly.
    Text masks word embeddings token by token (tokens in ``special_token_ids`` are never masked);
    images mask blocks of pixels; a text-image classifier gets both, drawn independently. Eval-mode forwards are
    untouched. Use around ``Trainer.train()``::

        with masking_augmentation(classifier, special_token_ids=tokenizer.all_special_ids):
            Trainer(model=classifier, ...).train()
    """
    if not 0.0 <= probability <= 1.0:
        raise InvalidInputError(f"probability must lie in [0, 1], got {probability}.")
    modality = get_modality(infer_modality(classifier))
    config = ScorerConfig(special_token_ids=list(special_token_ids) if special_token_ids else None)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=next(classifier.parameters()).device).manual_seed(seed)

    def masked(part: Modality, maskable: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        keep = part.random_keep_mask(feature_mask, generator)
        chosen = torch.rand(keep.shape[0], device=keep.device, generator=generator) < probability
        keep = torch.where(chosen.view(-1, *[1] * (keep.dim() - 1)), keep, torch.ones_like(keep))
        return part.apply_scores(maskable, keep, feature_mask)

    # each modality hooks its own masking space; a text-image classifier gets both of its parts'
    handles = modality.masking_hooks(classifier, masked, config)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
