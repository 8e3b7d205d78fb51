"""The check that keeps NaN and Inf away from users: a model output that is not finite becomes a typed error that
names the samples and the likely causes, instead of NaN scores, NaN maps or a crash further down."""

from __future__ import annotations

import torch

from .errors import NonFiniteOutputError

#: what to do when the classifier's or the scorer's outputs are not finite
OUTPUT_FIX = (
    "the inputs are out of range (prepare them with the classifier's own tokenizer or image processor) or the "
    "checkpoint's weights are broken (NaN or huge values: save or download it again); half precision can overflow "
    "too (load with dtype=torch.float32)"
)


def require_finite(values: torch.Tensor, what: str, fix: str = OUTPUT_FIX, valid: torch.Tensor | None = None) -> None:
    """Raise :class:`NonFiniteOutputError` when ``values`` (``[batch, ...]``; only where ``valid`` is True, if given)
    hold NaN or Inf, naming ``what`` produced them, the samples concerned and ``fix``."""
    values = values.detach()
    finite = torch.isfinite(values) if valid is None else torch.isfinite(values) | ~valid.to(torch.bool)
    if bool(finite.all()):
        return
    broken = (~finite).reshape(finite.shape[0], -1).any(dim=1).nonzero().flatten().tolist() if finite.dim() else []
    where = f" for sample(s) {broken[:10]}{' ...' if len(broken) > 10 else ''}" if broken else ""
    raise NonFiniteOutputError(f"{what} gave NaN or Inf{where}: {fix}.")
