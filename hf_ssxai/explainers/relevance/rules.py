"""Relevance rules as pure tensor functions: each takes the relevance ``R`` at a layer's output and returns it at
the layer's input. They are the building blocks of Attribution Guided Factorization (``agf.py``).

Shapes follow the layer: ``[batch, channels, height, width]`` for convolutions and pooling. Division uses
:func:`safe_divide`, so a zero denominator passes no relevance instead of producing NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: steepness of the soft binarization of a normalized activation (or gradient) map before factorization
FACTORIZATION_SHARPNESS = 10.0


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """``numerator / denominator``, and 0 where the denominator is exactly 0 (no relevance flows through a zero)."""
    zero = denominator == 0
    return numerator / (denominator + eps * zero) * ~zero


def z_rule(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """The z-rule ``R_in = x ⊙ ∂z/∂x · (R / z)`` with ``z = layer(x)``: ReLU, max and average pooling.

    Each output's relevance goes to the inputs in proportion to their share of it: for ReLU it passes where
    ``x > 0``, for max pooling to the maximum, for average pooling to every input of the window.
    """
    x = x.detach().requires_grad_()
    with torch.enable_grad():
        z = layer(x)
        (gradient,) = torch.autograd.grad(z, x, safe_divide(relevance, z.detach()))
    return x.detach() * gradient


def sum_rule(operands: tuple[torch.Tensor, ...], relevance: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The z-rule of an addition ``z = a + b + ...``: each operand gets ``operand · R / z``."""
    share = safe_divide(relevance, sum(operands))
    return tuple(operand * share for operand in operands)


def _conv(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``conv`` applied to ``x`` with ``weight`` in place of its own (no bias)."""
    return F.conv2d(x, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)


def _conv_transpose(conv: nn.Conv2d, y: torch.Tensor, weight: torch.Tensor, input_shape: torch.Size) -> torch.Tensor:
    """The transpose of ``conv`` (with ``weight``) applied to an output-shaped ``y``: back to ``input_shape``."""
    return torch.nn.grad.conv2d_input(input_shape, weight, y, conv.stride, conv.padding, conv.dilation, conv.groups)


def absolute_conv_rule(conv: nn.Conv2d, x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """``C = |x| ⊙ convᵀ_|W|(R / conv_|W|(|x|))``: relevance spread by the magnitudes of inputs and weights.

    Every output's relevance is split among the inputs of its window in proportion to ``|x| |w|``, so the total
    is conserved wherever the output's denominator is not 0.
    """
    weight, magnitude = conv.weight.abs(), x.abs()
    share = safe_divide(relevance, _conv(conv, magnitude, weight))
    return magnitude * _conv_transpose(conv, share, weight, x.shape)


def bounded_conv_rule(conv: nn.Conv2d, x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """The z^B rule for the convolution that reads the image, with bounds ``L = min x``, ``H = max x`` per sample.

    ``z = conv_W(x) − conv_W⁺(L) − conv_W⁻(H)``; ``R_in = x ⊙ convᵀ_W(s) − L ⊙ convᵀ_W⁺(s) − H ⊙ convᵀ_W⁻(s)``,
    ``s = R / z``. Pixels are not rectified, so the rule credits them against the lowest and highest values
    they could take; the total is conserved wherever ``z`` is not 0.
    """
    weight = conv.weight
    positive, negative = weight.clamp(min=0), weight.clamp(max=0)
    low = x.amin(dim=(1, 2, 3), keepdim=True).expand_as(x)
    high = x.amax(dim=(1, 2, 3), keepdim=True).expand_as(x)
    z = _conv(conv, x, weight) - _conv(conv, low, positive) - _conv(conv, high, negative)
    share = safe_divide(relevance, z)
    return (
        x * _conv_transpose(conv, share, weight, x.shape)
        - low * _conv_transpose(conv, share, positive, x.shape)
        - high * _conv_transpose(conv, share, negative, x.shape)
    )


def factorize(z: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Foreground minus background weight per location of ``z`` ``[B, C, H, W]``, guided by ``guide`` ``[B, H, W]``.

    ``z`` is divided by its per-sample maximum and softly binarized, ``h = sigmoid(10 z)``, a ``[C, locations]``
    matrix. The foreground prototype is the mean of ``h`` over the locations where ``guide > 0``, the background
    one over ``guide < 0`` (a zero vector when there are none). Each location is then written as a non-negative
    mix of the two prototypes (ridge least squares, clipped at 0); the result is the foreground weight minus the
    background weight, ``[B, 1, H, W]``.
    """
    batch, channels, height, width = z.shape
    scale = z.flatten(1).amax(dim=1).clamp(min=torch.finfo(z.dtype).tiny).view(batch, 1, 1, 1)
    h = torch.sigmoid(FACTORIZATION_SHARPNESS * z / scale).flatten(2)  # [B, C, N]
    masks = torch.stack([guide < 0, guide > 0], dim=1).flatten(2).to(z.dtype)  # [B, 2, N]: background, foreground
    prototypes = h @ masks.transpose(1, 2) / masks.sum(dim=2).clamp(min=1).unsqueeze(1)  # [B, C, 2]
    gram = prototypes.transpose(1, 2) @ prototypes + torch.eye(2, dtype=z.dtype, device=z.device)
    weights = torch.linalg.solve(gram, prototypes.transpose(1, 2) @ h).clamp(min=0)  # [B, 2, N]
    return (weights[:, 1] - weights[:, 0]).view(batch, 1, height, width)


def factorized_conv_rule(
    conv: nn.Conv2d,
    x: torch.Tensor,
    gradient: torch.Tensor,
    relevance: torch.Tensor,
    *,
    mask: bool = True,
    activation_factors: bool = True,
    gradient_factors: bool = True,
    uniform: bool = True,
    gate: bool = True,
) -> torch.Tensor:
    """The Attribution Guided Factorization rule of an inner convolution; each keyword switches one term off.

    ``C`` is :func:`absolute_conv_rule`. To it is added, on the inputs where ``C ≠ 0``,
    ``Res = (F_x + M) · sigmoid(C) + F_∇x + A`` minus its mean over those inputs, so ``Σ R`` is unchanged:

    - ``M`` (``mask``): ``relu(mean over channels of x ⊙ ∇x)``, divided by its per-sample maximum;
    - ``F_x`` / ``F_∇x`` (``activation_factors`` / ``gradient_factors``): ``relu(factorize(x or ∇x, mean over
      channels of C))``, the foreground-minus-background weight of :func:`factorize`;
    - ``A`` (``uniform``): ``convᵀ_|W|(R / conv_|W|(1))``, the relevance spread back as if every input were 1;
    - ``sigmoid(C)`` (``gate``): the gate on ``F_x + M`` (1 when off).

    ``x`` is the convolution's input, ``gradient`` the gradient of the explained objective with respect to it.
    """
    c = absolute_conv_rule(conv, x, relevance)
    guide = c.mean(dim=1)
    guided = torch.zeros_like(x[:, :1])
    if activation_factors:
        guided = guided + factorize(x, guide).clamp(min=0)
    if mask:
        product = (x * gradient).mean(dim=1, keepdim=True).clamp(min=0)
        guided = guided + safe_divide(product, product.amax(dim=(2, 3), keepdim=True))
    residual = guided * torch.sigmoid(c) if gate else guided.expand_as(c)
    if gradient_factors:
        residual = residual + factorize(gradient, guide).clamp(min=0)
    if uniform:
        weight = conv.weight.abs()
        spread = safe_divide(relevance, _conv(conv, torch.ones_like(x), weight))
        residual = residual + _conv_transpose(conv, spread, weight, x.shape)
    active = c != 0
    residual = residual * active
    mean = residual.sum(dim=(1, 2, 3), keepdim=True) / active.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1)
    return c + (residual - mean) * active
