"""Images: features are pixels, the maskable space is ``pixel_values`` as the image processor made them.

A score of 0 gives the normalized zero, which is the dataset mean colour for processors that
normalize with it. Hidden states come either as patch tokens ``[B, prefix + patches, D]`` (ViT,
DeiT, ...), which are reshaped to a grid with CLS/distillation/register tokens dropped, as tokens of a coarser
stage's grid (LeViT), or as feature maps ``[B, C, h, w]`` (ResNet, ConvNeXt, ...), which are used as they are.
Windowed models (Swin, FocalNet, Hiera) give their stages' maps as ``reshaped_hidden_states``, which are read
instead of their tokens (Hiera orders its tokens by mask unit, not row by row).

Sizes come from the classifier's config, or from its ``vision_config`` (CLIP, SigLIP): the probe that
:meth:`ImageModality.attach` runs is ``image_size`` large when the config says it, else large enough for the
patch, window and stage sizes it names.
"""

from __future__ import annotations

import inspect
import io
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import nn
from transformers import AutoImageProcessor, AutoModelForImageClassification

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from ..scorers import ImageScorer
from .base import Masking, Modality, ModalityCard, SingleModality, check_transformers_classifier
from .evidence import EvidenceReading
from .image_evidence import IMAGE_EVIDENCE_FORMATS, image_evidence_masks
from .registry import register_modality

if TYPE_CHECKING:
    from datasets import Dataset

PROBE_SIDE = 64
#: at most this many tokens come before the patch tokens (CLS, distillation and register tokens)
MAX_PREFIX_TOKENS = 16
#: the largest pixel value a model takes: processors give a few units, raw 16-bit pixels 65535; more overflows
MAX_PIXEL_MAGNITUDE = 1e6
#: layers of a ViT-like classifier the U-Net decoder reads by default: this many, evenly spaced, ending with the last
UNET_VIT_LAYERS = 4


def image_mode(processor: Any) -> str:
    """PIL mode the processor's normalization expects: one mean value means greyscale."""
    mean = getattr(processor, "image_mean", None)
    return "L" if mean is not None and len(mean) == 1 else "RGB"


def open_image(source: str | os.PathLike | bytes, label: str, mode: str = "RGB") -> Image.Image:
    """An image file or encoded image bytes, decoded and converted to ``mode``; a missing or unreadable file is an
    :class:`InvalidInputError` that names it as ``label`` (e.g. ``"Image 2"``)."""
    name = "the given bytes" if isinstance(source, bytes) else repr(os.fspath(source))
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            return opened.convert(mode)
    except FileNotFoundError:
        raise InvalidInputError(f"Cannot read {label}: no file at {name}. Give a readable image file.") from None
    except Image.DecompressionBombError as error:
        raise InvalidInputError(
            f"Refusing {label}: {name} would decode to more pixels than PIL allows ({error}); it may be a "
            "decompression bomb. Downscale it first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file."
        ) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InvalidInputError(
            f"Cannot read {label}: {name} is not a readable image ({error}). Give a readable image file."
        ) from error


def _as_pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, dict) and {"height", "width"} <= set(value):
        return int(value["height"]), int(value["width"])
    return None


def vision_setting(classifier_config: Any, name: str) -> Any:
    """``name`` from the classifier config, else from its ``vision_config`` (CLIP- and SigLIP-style configs)."""
    value = getattr(classifier_config, name, None)
    if value is None:
        section = getattr(classifier_config, "vision_config", None)
        value = section.get(name) if isinstance(section, dict) else getattr(section, name, None)
    return value


def probe_size(classifier_config: Any) -> tuple[int, int]:
    """The image size of the probe: the config's ``image_size``; else at least :data:`PROBE_SIDE` and large enough
    for one window of patches in the coarsest stage (patch size x window size x 2 per stage after the first)."""
    size = _as_pair(vision_setting(classifier_config, "image_size"))
    if size is not None:
        return size
    patch = _as_pair(vision_setting(classifier_config, "patch_size")) or (1, 1)
    window = vision_setting(classifier_config, "window_size")
    window = window if isinstance(window, int) else 1
    depths = vision_setting(classifier_config, "depths")
    stages = len(depths) if isinstance(depths, (list, tuple)) else 1
    return tuple(max(PROBE_SIDE, side * window * 2 ** (stages - 1)) for side in patch)


def token_grid(count: int, height: int, width: int, patch: tuple[int, int] | None) -> tuple[int, int, int]:
    """``(prefix, grid_h, grid_w)`` of ``count`` tokens of a ``height`` x ``width`` input: the patch grid after up
    to :data:`MAX_PREFIX_TOKENS` CLS/register tokens (fewer than the grid's cells), else the grid of a coarser stage
    (a power-of-two stride), else a square grid; :class:`UnsupportedClassifierError` when none fits."""
    grids = [(height // patch[0], width // patch[1])] if patch is not None else []
    stride = 1
    while stride <= max(height, width):
        grids += [(height // stride, width // stride), (-(-height // stride), -(-width // stride))]
        stride *= 2
    side = math.isqrt(count)  # a square grid of a stride that is no power of two
    if side and height % side == 0 and width % side == 0:
        grids.append((side, side))
    for grid_h, grid_w in grids:
        if 0 <= count - grid_h * grid_w <= min(MAX_PREFIX_TOKENS, grid_h * grid_w - 1):
            return count - grid_h * grid_w, grid_h, grid_w
    raise UnsupportedClassifierError(
        f"A hidden state of {count} tokens is laid out over no grid of the {height}x{width} input (neither the patch "
        f"grid nor a coarser stage's, after at most {MAX_PREFIX_TOKENS} CLS or register tokens): the image scorer "
        "needs hidden states laid out over the image. Set ScorerConfig.hidden_state_layers to such layers; a "
        "classifier whose hidden states are latent vectors (Perceiver) has none."
    )


def channels_first(state: torch.Tensor, width: int) -> torch.Tensor:
    """A stage map ``[B, C, h, w]``, from either layout (Hiera's reshaped states are ``[B, h, w, C]``)."""
    return state.permute(0, 3, 1, 2) if state.shape[1] != width and state.shape[-1] == width else state


def unet_skip_levels(is_feature_map: list[bool]) -> list[int]:
    """Doublings finer than its own resolution at which each selected hidden state joins the U-Net decoder: feature
    maps at their own (0); patch tokens, which share one resolution, spread out, the last (deepest) at 0 and each
    earlier one a level finer."""
    tokens = [index for index, is_map in enumerate(is_feature_map) if not is_map]
    levels = [0] * len(is_feature_map)
    for rank, index in enumerate(reversed(tokens)):
        levels[index] = rank
    return levels


class ImageModality(SingleModality):
    name = "image"
    main_input = "pixel_values"
    maskable_argument = "pixel_values"
    feature_channel_dim = 1
    auto_model_class = AutoModelForImageClassification
    processor_class = AutoImageProcessor
    processor_file = "preprocessor_config.json"
    processor_attribute = "image_processor"
    processor_description = "an image processor"
    input_description = "image (PIL image or path)"
    evidence_formats = IMAGE_EVIDENCE_FORMATS
    #: the reference code's image scorer: BatchNorm in the head, the section 4.4 decoder, no input pixels
    thesis_options = {"head_normalization": "batch", "image_decoder": "unet", "pixel_skip": False}
    #: the decoder of section 4.4 without the pixel input, and the deletion term: the setting that puts the scorer on
    #: the MNIST and Imagenette fronts (docs/training.md, "Defaults per modality")
    default_options = {"image_decoder": "unet", "pixel_skip": False, "deletion_weight": 3.0}
    card = ModalityCard(
        scorer_kind="a U-Net-like convolutional decoder from the classifier's spatial hidden states to pixels",
        feature="pixel",
        limit="Maps are per pixel at the resolution the image processor produces; the pipeline also returns them "
        "resized to each original image.",
        example_import="from PIL import Image\n",
        example='[Image.open("image.jpg").convert("RGB")]',
        attribution_shape="[batch, height, width]",
        pipeline_fields="[{'label': ..., 'score': ..., 'attributions': <[H, W]>, 'map': <[height, width]>}]",
        pipeline_tag="image-classification",
        hidden_config_fields=("num_attention_heads",),
    )

    def check_classifier(self, classifier: nn.Module) -> None:
        check_transformers_classifier(classifier, self.name)
        parameters = inspect.signature(classifier.forward).parameters
        if "spatial_shapes" in parameters:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} takes pixel_values as flattened patches of images of any size, with "
                "spatial_shapes (NaFlex); the image scorer masks pixels of [batch, channels, height, width] images. "
                "Use a fixed-resolution classifier (SigLIP rather than SigLIP2, ViT, ...)."
            )
        if vision_setting(classifier.config, "num_latents") is not None:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} reads the image into a fixed number of latent vectors (num_latents), "
                "and its hidden states are those latents, not laid out over the image; the image scorer decodes "
                "hidden states laid out over the image. Use a classifier of patches or feature maps (ViT, ResNet, ...)."
            )
        if getattr(classifier, "main_input_name", None) != "pixel_values" and "pixel_values" not in parameters:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} does not take pixel_values as its main input; the image scorer "
                "masks normalized pixels. Use a transformers image classifier (ViT, DeiT, ResNet, ConvNeXt, ...)."
            )

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        if config.image_decoder == "unet":
            states = self.probe_hidden_states(classifier, config)
            if config.hidden_state_layers is None:
                config.hidden_state_layers = self.unet_layers(states)
            if config.unet_skip_levels is None:
                selected = self.select(states, config.hidden_state_layers)
                config.unet_skip_levels = unet_skip_levels([state.dim() == 4 for state in selected])
        super().attach(classifier, config, processor)
        config.input_channels = self._num_channels(classifier)

    def _num_channels(self, classifier: nn.Module) -> int:
        return int(vision_setting(classifier.config, "num_channels") or 3)

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        size = probe_size(classifier.config)
        device = next(classifier.parameters()).device
        return {"pixel_values": torch.zeros(1, self._num_channels(classifier), *size, device=device)}

    def hidden_states(self, outputs: Any) -> Any:
        """The hidden states; of a windowed model, its stage maps (``reshaped_hidden_states``), channels first."""
        states = getattr(outputs, "hidden_states", None)
        reshaped = getattr(outputs, "reshaped_hidden_states", None)
        if not reshaped:
            return states
        if not states or len(states) != len(reshaped):
            return tuple(reshaped)
        return tuple(channels_first(maps, tokens.shape[-1]) for maps, tokens in zip(reshaped, states, strict=True))

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

    def check_layers(self, classifier: nn.Module, hidden_states: tuple[torch.Tensor, ...], layers: list[int]) -> None:
        """Every chosen hidden state is a feature map or tokens laid out over the probe's image (:func:`token_grid`)."""
        height, width = probe_size(classifier.config)
        patch = _as_pair(vision_setting(classifier.config, "patch_size"))
        for state in self.select(hidden_states, layers):
            if state.dim() == 3:
                token_grid(state.shape[1], height, width, patch)

    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        return hidden_state.shape[1] if hidden_state.dim() == 4 else hidden_state.shape[-1]

    def build_scorer(self, config: ScorerConfig) -> nn.Module:
        return ImageScorer(config)

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
        if (largest := float(pixel_values.detach().abs().amax())) > MAX_PIXEL_MAGNITUDE:
            raise InvalidInputError(
                f"pixel_values reach {largest:.3g}; an image processor gives values within a few units (raw 16-bit "
                f"pixels stay below {MAX_PIXEL_MAGNITUDE:.0e}), and values this large overflow inside the classifier. "
                "Prepare the images with the classifier's image processor."
            )

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
        patch = _as_pair(vision_setting(classifier.config, "patch_size"))
        return [
            state if state.dim() == 4 else self._tokens_to_grid(state, height, width, patch)
            for state in self.select(hidden_states, layers)
        ]

    @staticmethod
    def _tokens_to_grid(tokens: torch.Tensor, height: int, width: int, patch: tuple[int, int] | None) -> torch.Tensor:
        """``[B, prefix + gh*gw, D]`` -> ``[B, D, gh, gw]``, dropping CLS/distillation/register tokens (the grid:
        :func:`token_grid`)."""
        batch, count, dim = tokens.shape
        prefix, grid_h, grid_w = token_grid(count, height, width, patch)
        return tokens[:, prefix:, :].transpose(1, 2).reshape(batch, dim, grid_h, grid_w)

    def masking_hooks(self, classifier: nn.Module, masked: Masking, config: ScorerConfig) -> list[Any]:
        """``pixel_values`` are masked in blocks before the classifier's forward sees them."""

        def pixels_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not module.training or kwargs.get("pixel_values") is None:
                return None
            kwargs["pixel_values"] = masked(self, kwargs["pixel_values"], self.feature_mask(kwargs, config))
            return args, kwargs

        return [classifier.register_forward_pre_hook(pixels_hook, with_kwargs=True)]

    # ---------------------------------------------------------------- datasets
    def encode_dataset(self, dataset: Dataset, processor: Any, *, max_length: int | None, batch_size: int) -> Dataset:
        """The image column through the image processor (after converting to the mode it normalizes for) into
        ``pixel_values``."""
        mode = image_mode(processor)

        def process(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert(mode) for image in batch[self.name]]
            return {"pixel_values": processor(images, return_tensors="np")["pixel_values"]}

        return dataset.map(process, batched=True, batch_size=batch_size, remove_columns=[self.name])

    def evidence_to_masks(
        self, inputs: Sequence[Any], values: Sequence[Any], processor: Any, reading: EvidenceReading
    ) -> tuple[list[Any], list[int]]:
        """Boxes ``[x0, y0, x1, y1]`` at the image's own size, pixel masks or pixel positions -> one 0/1 mask per
        image over the processed pixels (boxes go through the processor's resizing and cropping)."""
        masks, lost = image_evidence_masks(inputs, values, processor, image_mode(processor), reading)
        return [mask.tolist() for mask in masks], lost

    # ---------------------------------------------------------------- the pipeline
    def read_image(self, item: Any, mode: str, position: int, within: Modality | None = None) -> Image.Image:
        """Input ``position`` (or its image, inside a multimodal input), a PIL image or an image file, in ``mode``."""
        if isinstance(item, Image.Image):
            image = item.convert(mode)
        elif isinstance(item, (str, os.PathLike)):
            image = open_image(item, f"the image {os.fspath(item)!r} (input {position})", mode)
        else:
            one, many = "a PIL image or an image path", "a PIL image, an image path or a list of them"
            raise self.wrong_input(item, position, within, one, many)
        if image.width == 0 or image.height == 0:
            raise InvalidInputError(
                f"Input {position} is an image of {image.width}x{image.height} pixels: there is nothing to explain. "
                "Give an image at least one pixel wide and high."
            )
        return image

    def prepare_inputs(
        self, items: list[Any], processor: Any, offset: int, max_length: int | None, within: Modality | None = None
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Images read and converted to the mode the processor expects, then processed to ``pixel_values``."""
        mode = image_mode(processor)
        images = [self.read_image(item, mode, position, within) for position, item in enumerate(items, offset)]
        return {"pixel_values": processor(images, return_tensors="pt")["pixel_values"]}, images

    def explanations(
        self, context: Any, attributions: Any, feature_mask: Any, offset: int, max_length: int | None
    ) -> list[dict[str, Any]]:
        """Per image: the map at the processed resolution and, bilinearly resized, at the image's own size."""
        results = []
        for index, image in enumerate(context):
            resized = F.interpolate(
                attributions[index][None, None], size=(image.height, image.width), mode="bilinear", align_corners=False
            )
            results.append({"attributions": attributions[index], "map": resized[0, 0].numpy()})
        return results

    def explanation_columns(self, explanation: dict[str, Any], map_format: str) -> dict[str, Any]:
        """The map at the processed resolution, as a float16 array or an 8-bit greyscale PNG (0 -> black, 1 ->
        white); the map resized to the image's own size is left out (rebuild it from the image if needed)."""
        scores = explanation["attributions"].float()
        if map_format == "png":
            pixels = (scores.clamp(0.0, 1.0) * 255).round().to(torch.uint8).numpy()
            return {"map": Image.fromarray(pixels, mode="L")}
        return {"map": scores.numpy().astype("float16")}


register_modality(ImageModality())
