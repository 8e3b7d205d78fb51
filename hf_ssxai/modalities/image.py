"""Images: features are pixels, the maskable space is ``pixel_values`` as the image processor made them.

A score of 0 gives the normalized zero, which is the dataset mean colour for processors that
normalize with it. Hidden states come either as patch tokens ``[B, prefix + patches, D]`` (ViT,
DeiT, ...), which are reshaped to a grid with CLS/distillation/register tokens dropped, or as
feature maps ``[B, C, h, w]`` (ResNet, ConvNeXt, ...), which are used as they are.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from .base import Modality

PROBE_SIDE = 64
#: layers of a ViT-like classifier the U-Net decoder reads by default: this many, evenly spaced, ending with the last
UNET_VIT_LAYERS = 4


def _as_pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


class ImageModality(Modality):
    name = "image"
    maskable_argument = "pixel_values"
    feature_channel_dim = 1

    def check_classifier(self, classifier: nn.Module) -> None:
        if getattr(classifier, "main_input_name", None) != "pixel_values":
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} does not take pixel_values as its main input; the image scorer "
                "masks normalized pixels. Use a transformers image classifier (ViT, DeiT, ResNet, ConvNeXt, ...)."
            )

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        if config.hidden_state_layers is None and config.image_decoder == "unet":
            config.hidden_state_layers = self.unet_layers(self.probe_hidden_states(classifier, config))
        super().attach(classifier, config, processor)
        config.input_channels = self._num_channels(classifier)

    def _num_channels(self, classifier: nn.Module) -> int:
        return int(getattr(classifier.config, "num_channels", 3))

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        size = _as_pair(getattr(classifier.config, "image_size", None)) or (PROBE_SIDE, PROBE_SIDE)
        device = next(classifier.parameters()).device
        return {"pixel_values": torch.zeros(1, self._num_channels(classifier), *size, device=device)}

    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        """The deepest hidden state of every resolution the classifier offers (token models: the last)."""
        deepest: dict[tuple[int, ...], int] = {}
        for index, state in enumerate(hidden_states):
            deepest[tuple(state.shape[2:]) if state.dim() == 4 else ()] = index
        return sorted(deepest.values())

    def unet_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        """The U-Net decoder's default: for patch tokens, :data:`UNET_VIT_LAYERS` layers evenly spaced and ending
        with the last (the thesis' skips from intermediate ViT layers); for feature maps, as :meth:`default_layers`."""
        if any(state.dim() == 4 for state in hidden_states):
            return self.default_layers(hidden_states)
        last = len(hidden_states) - 1
        count = min(UNET_VIT_LAYERS, last)
        return sorted({round(last - step * last / count) for step in range(count)})

    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        return hidden_state.shape[1] if hidden_state.dim() == 4 else hidden_state.shape[-1]

    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        pixel_values = inputs.get("pixel_values")
        channels = self._num_channels(classifier)
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4:
            raise InvalidInputError(
                f"pixel_values must be a float tensor of shape [batch, {channels}, height, width]; got "
                f"{type(pixel_values).__name__} {tuple(getattr(pixel_values, 'shape', ()))}. "
                "Use the classifier's image processor with return_tensors='pt'."
            )
        if not pixel_values.is_floating_point():
            raise InvalidInputError(
                f"pixel_values must be floating point (normalized), got {pixel_values.dtype}. "
                "Run the images through the image processor first."
            )
        if pixel_values.shape[0] == 0:
            raise InvalidInputError("Empty batch: pixel_values has no images. Give at least one image.")
        if pixel_values.shape[1] != channels:
            raise InvalidInputError(
                f"pixel_values has {pixel_values.shape[1]} channels but the classifier expects {channels}. "
                "Convert images first (e.g. PIL's image.convert('RGB')) or use the classifier's image processor."
            )
        if not torch.isfinite(pixel_values).all():
            raise InvalidInputError("pixel_values contain NaN or Inf; clean or re-process the images.")

    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> torch.Tensor:
        pixel_values = inputs["pixel_values"]
        batch, _, height, width = pixel_values.shape
        return torch.ones(batch, height, width, dtype=torch.bool, device=pixel_values.device)

    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        forward_kwargs = {k: v for k, v in self.classifier_inputs(inputs).items() if k != "pixel_values"}
        return inputs["pixel_values"], forward_kwargs

    def expand_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.unsqueeze(1)

    def random_keep_mask(self, feature_mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Blocks of a random 2..8 cell grid kept with a keep rate drawn uniformly per sample."""
        batch, height, width = feature_mask.shape
        device = feature_mask.device
        cells = int(torch.randint(2, 9, (1,), generator=generator, device=device))
        rate = torch.rand(batch, 1, 1, 1, device=device, generator=generator)
        blocks = (torch.rand(batch, 1, cells, cells, device=device, generator=generator) < rate).float()
        return torch.nn.functional.interpolate(blocks, size=(height, width), mode="nearest")[:, 0]

    def scorer_features(
        self,
        hidden_states: tuple[torch.Tensor, ...],
        layers: list[int],
        inputs: dict[str, Any],
        classifier: nn.Module,
    ) -> list[torch.Tensor]:
        height, width = inputs["pixel_values"].shape[-2:]
        patch = _as_pair(getattr(classifier.config, "patch_size", None))
        return [
            state if state.dim() == 4 else self._tokens_to_grid(state, height, width, patch)
            for state in self.select(hidden_states, layers)
        ]

    @staticmethod
    def _tokens_to_grid(tokens: torch.Tensor, height: int, width: int, patch: tuple[int, int] | None) -> torch.Tensor:
        """``[B, prefix + gh*gw, D]`` -> ``[B, D, gh, gw]``, dropping CLS/distillation/register tokens."""
        batch, count, dim = tokens.shape
        if patch is not None:
            grid_h, grid_w = height // patch[0], width // patch[1]
        else:  # no patch size in the config: assume a square grid after a few prefix tokens
            grid_h = grid_w = math.isqrt(count)
        prefix = count - grid_h * grid_w
        if prefix < 0:
            raise UnsupportedClassifierError(
                f"Hidden state has {count} tokens, fewer than the {grid_h}x{grid_w} patch grid of the input; "
                "set ScorerConfig.hidden_state_layers to layers that keep one token per patch."
            )
        return tokens[:, prefix:, :].transpose(1, 2).reshape(batch, dim, grid_h, grid_w)
