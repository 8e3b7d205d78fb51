"""Text-image: two feature sets, tokens and pixels, of a fusion classifier; every map is a dict per modality.

Each part is masked where its own modality masks it (word embeddings through ``inputs_embeds``, normalized
``pixel_values``), by :class:`TextModality` and :class:`ImageModality` applied to the classifier's text and
vision encoders. The classifier must look like :class:`hf_ssxai.fusion.FusionForSequenceClassification`: its
base model has a ``text_model`` and a ``vision_model``, its forward takes ``inputs_embeds`` and
``pixel_values``, and with ``output_hidden_states=True`` it returns ``text_hidden_states``,
``vision_hidden_states`` and the fused sequence ``[fusion token, text tokens, vision tokens]`` as
``hidden_states``. The fusion layers' output conditions both scorers: each reads its own encoder's hidden
states plus the fused tokens of its modality (text: one per token; image: the vision tokens on their grid).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoProcessor

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from .base import ALL_MASKED, ModalityCard
from .image import ImageModality, _as_pair, image_mode
from .multimodal import MultimodalModality
from .registry import register_modality
from .text import TextModality
from .text_config import special_token_ids

if TYPE_CHECKING:
    from datasets import Dataset

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")
PAIR_EXPECTED = "give {'text': caption, 'image': image} or a list of such dicts"


def returns_fields(forward: Any, *fields: str) -> bool:
    """Whether ``forward``'s declared output (a ``ModelOutput`` class, or a union with one) has ``fields``; True
    when the declaration cannot be read (nothing says otherwise). Vision-language classifiers that merge image
    tokens into one text sequence (ModernVBERT) declare outputs without them."""
    try:
        declared = typing.get_type_hints(forward).get("return")
    except Exception:  # noqa: BLE001  (annotations that do not resolve say nothing either way)
        return True
    if declared is None:
        return True
    classes = [c for c in (typing.get_args(declared) or (declared,)) if dataclasses.is_dataclass(c)]
    return not classes or any(set(fields) <= {field.name for field in dataclasses.fields(c)} for c in classes)


class TextImageModality(MultimodalModality):
    name = "text-image"
    extra_input_names = ("special_tokens_mask",)
    part_modalities = {"text": TextModality(), "image": ImageModality()}
    # the fusion classifier (hf_ssxai.fusion) registers itself with these Auto classes
    auto_model_class = AutoModelForSequenceClassification
    processor_class = AutoProcessor
    processor_file = "processor_config.json"
    input_description = "{'text': caption, 'image': image} pair"
    pads_to_max_length = True  # text and images are stacked into one batch: every caption has one length
    #: the image default's decoder and deletion term, without the binary penalty: the setting that put the caption
    #: maps on the Flickr8k front and moved the image maps closest to it (docs/training.md, "Defaults per modality")
    default_options = {
        "image_decoder": "unet",
        "pixel_skip": False,
        "deletion_weight": 3.0,
        "use_binary_penalty": False,
    }
    card = ModalityCard(
        scorer_kind="one per modality, self-attention over the caption's token states and a convolutional decoder "
        "to the image's pixels, each also reading the fusion layer's output",
        feature="feature (caption token or image pixel)",
        limit="The loss is the joint one (thesis eq. 3.5): the task loss with both maps applied, plus with each "
        "applied alone, plus both maps' penalties, γ from the both-masked Δ; each map must keep the prediction "
        "alone and together with the other. Captions are padded to the length they were trained with.",
        example_import="from PIL import Image\n",
        example='text=["a dog runs on the beach"], images=[Image.open("image.jpg")]',
        pipeline_example='{"text": "a dog runs on the beach", "image": "image.jpg"}',
        attribution_shape="{'text': [batch, tokens], 'image': [batch, height, width]}",
        pipeline_fields="{'label': ..., 'score': ..., 'text': {'words': [...], 'word_scores': [...], ...}, "
        "'image': {'map': <[height, width]>, ...}}",
        hidden_config_fields=("num_attention_heads",),
    )

    # ---------------------------------------------------------------- the classifier's parts
    @staticmethod
    def encoders(classifier: nn.Module) -> dict[str, nn.Module]:
        """The classifier's text and vision encoders, by modality."""
        base = getattr(classifier, "base_model", classifier)
        return {"text": base.text_model, "image": base.vision_model}

    def check_classifier(self, classifier: nn.Module) -> None:
        base = getattr(classifier, "base_model", classifier)
        parameters = inspect.signature(classifier.forward).parameters
        if (
            not (hasattr(base, "text_model") and hasattr(base, "vision_model"))
            or not {"inputs_embeds", "pixel_values"} <= set(parameters)
            or not returns_fields(classifier.forward, "text_hidden_states", "vision_hidden_states")
        ):
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} is not a text-image fusion classifier: it needs a text_model and a "
                "vision_model, a forward taking inputs_embeds and pixel_values, and outputs with the hidden states of "
                "each (text_hidden_states, vision_hidden_states). Use hf_ssxai.FusionForSequenceClassification."
            )
        self.parts["text"].check_classifier(classifier)
        self.parts["image"].check_classifier(base.vision_model)

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        return {
            **self.parts["text"].dummy_inputs(classifier, config),
            **self.parts["image"].dummy_inputs(self.encoders(classifier)["image"], config),
        }

    def hidden_states(self, outputs: Any) -> dict[str, tuple[torch.Tensor, ...] | None]:
        """The text and vision encoders' hidden states, and the fused sequences (``"fusion"``)."""
        return {
            "text": getattr(outputs, "text_hidden_states", None),
            "image": getattr(outputs, "vision_hidden_states", None),
            "fusion": getattr(outputs, "hidden_states", None),
        }

    def probe_hidden_states(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, tuple[torch.Tensor, ...]]:
        with torch.no_grad():
            outputs = classifier(**self.dummy_inputs(classifier, config), output_hidden_states=True, return_dict=True)
        states = self.hidden_states(outputs)
        if missing := [name for name, value in states.items() if not value]:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} returned no hidden states for {', '.join(missing)} with "
                "output_hidden_states=True; the text-image scorers read the text, vision and fusion hidden states."
            )
        return states

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        """One list of layers and widths per modality; each scorer also reads the fused tokens (last width)."""
        layers = config.hidden_state_layers or {}
        if not isinstance(layers, dict) or set(layers) - set(self.parts):
            raise InvalidInputError(
                "A text-image ScorerConfig takes hidden_state_layers as {'text': [...], 'image': [...]} (either may "
                f"be left out for the default), got {layers!r}."
            )
        states = self.probe_hidden_states(classifier, config)
        fusion_width = states["fusion"][-1].shape[-1]
        chosen, widths = {}, {}
        for name, part in self.parts.items():
            chosen[name] = list(layers.get(name) or part.default_layers(states[name]))
            widths[name] = [part.hidden_width(h) for h in part.select(states[name], chosen[name])] + [fusion_width]
        config.hidden_state_layers = chosen
        config.classifier_hidden_sizes = widths
        config.input_channels = int(getattr(self.encoders(classifier)["image"].config, "num_channels", 3))
        if config.special_token_ids is None:
            config.special_token_ids = special_token_ids(classifier.config, getattr(processor, "tokenizer", processor))

    # ---------------------------------------------------------------- inputs and features
    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        has_text, has_images = inputs.get("input_ids") is not None, inputs.get("pixel_values") is not None
        if not (has_text and has_images):
            kind = "an image-only" if has_images else "a text-only" if has_text else "an empty"
            raise InvalidInputError(
                f"A text-image model needs text (input_ids) and images (pixel_values) together; got {kind} batch "
                f"({sorted(inputs)}). Prepare pairs with the model's processor: processor(text=..., images=...)."
            )
        encoders = self.encoders(classifier)
        self.parts["text"].validate_inputs(encoders["text"], {k: inputs[k] for k in TEXT_INPUTS if k in inputs})
        self.parts["image"].validate_inputs(encoders["image"], {"pixel_values": inputs["pixel_values"]})
        texts, images = inputs["input_ids"].shape[0], inputs["pixel_values"].shape[0]
        if texts != images:
            raise InvalidInputError(
                f"Mismatched batch sizes: {texts} text(s) (input_ids) but {images} image(s) (pixel_values); a "
                "text-image model takes one image per text."
            )

    def split_inputs(
        self, classifier: nn.Module, inputs: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        maskable = {"text": classifier.get_input_embeddings()(inputs["input_ids"]), "image": inputs["pixel_values"]}
        forward_kwargs = {
            k: v for k, v in self.classifier_inputs(inputs).items() if k not in ("input_ids", "pixel_values")
        }
        return maskable, forward_kwargs

    def masked_logits(
        self,
        classifier: nn.Module,
        inputs: dict[str, Any],
        scores: dict[str, torch.Tensor],
        feature_mask: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Logits with every modality masked (``"all"``) and with each masked alone (``"text"``, ``"image"``), from
        one classifier forward over the three variants stacked along the batch."""
        maskable, forward_kwargs = self.split_inputs(classifier, inputs)
        masked = self.apply_scores(maskable, scores, feature_mask)
        variants = {ALL_MASKED: set(self.parts), **{name: {name} for name in self.parts}}
        stacked = {
            name: torch.cat([masked[name] if name in chosen else maskable[name] for chosen in variants.values()])
            for name in self.parts
        }
        repeat = len(variants)
        stacked_kwargs = {
            key: value.repeat(repeat, *[1] * (value.dim() - 1)) if isinstance(value, torch.Tensor) else value
            for key, value in forward_kwargs.items()
        }
        logits = self.forward_from_maskable(classifier, stacked, stacked_kwargs).chunk(repeat)
        return dict(zip(variants, logits, strict=True))

    # ---------------------------------------------------------------- scorer inputs
    def scorer_features(
        self,
        hidden_states: dict[str, tuple[torch.Tensor, ...]],
        layers: dict[str, list[int]],
        inputs: dict[str, Any],
        classifier: nn.Module,
    ) -> dict[str, list[torch.Tensor]]:
        """Per modality: its encoder's selected hidden states, then its fused tokens (the conditioning)."""
        encoders = self.encoders(classifier)
        fused = hidden_states["fusion"][-1]
        text_length = inputs["input_ids"].shape[1]
        fused_text, fused_vision = fused[:, 1 : 1 + text_length], fused[:, 1 + text_length :]
        vision_last = hidden_states["image"][-1]
        if vision_last.dim() == 4:  # a CNN: the vision tokens are its last feature map, flattened row by row
            fused_grid = fused_vision.transpose(1, 2).reshape(fused.shape[0], -1, *vision_last.shape[-2:])
        else:
            height, width = inputs["pixel_values"].shape[-2:]
            patch = _as_pair(getattr(encoders["image"].config, "patch_size", None))
            fused_grid = ImageModality._tokens_to_grid(fused_vision, height, width, patch)
        text = self.parts["text"].scorer_features(hidden_states["text"], layers["text"], inputs, encoders["text"])
        image = self.parts["image"].scorer_features(hidden_states["image"], layers["image"], inputs, encoders["image"])
        return {"text": [*text, fused_text], "image": [*image, fused_grid]}

    # ---------------------------------------------------------------- datasets
    def encode_dataset(self, dataset: Dataset, processor: Any, *, max_length: int | None, batch_size: int) -> Dataset:
        """Captions and images through the processor together, the captions padded to ``max_length`` (required):
        the stacked batches of text-image training need one length."""
        if max_length is None:
            raise InvalidInputError("Text-image data is padded to one length: set max_length (e.g. 32 for captions).")
        mode = image_mode(processor.image_processor)

        def encode_pairs(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert(mode) for image in batch["image"]]
            encoded = processor(text=batch["text"], images=images, padding="max_length", max_length=max_length)
            return {key: value.numpy() for key, value in encoded.items()}

        return dataset.map(encode_pairs, batched=True, batch_size=batch_size, remove_columns=list(self.columns))

    # ---------------------------------------------------------------- the pipeline
    def split_items(self, items: list[Any], offset: int) -> dict[str, list[Any]]:
        """The captions and the images of inputs ``{"text": ..., "image": ...}``."""
        split: dict[str, list[Any]] = {name: [] for name in self.parts}
        for position, item in enumerate(items, offset):
            if not isinstance(item, Mapping):
                if isinstance(item, str):
                    kind = "a text-only input (a string)"
                elif isinstance(item, (Image.Image, os.PathLike)):
                    kind = f"an image-only input (a {'PIL image' if isinstance(item, Image.Image) else 'path'})"
                else:
                    kind = f"a {type(item).__name__}"
                raise InvalidInputError(
                    f"This is a text-image classifier: input {position} is {kind}; {PAIR_EXPECTED}."
                )
            if unknown := sorted(repr(key) for key in item if key not in self.parts):
                raise InvalidInputError(
                    f"Input {position} has unknown key(s) {', '.join(unknown)}: a text-image input is a dict with "
                    "exactly the keys 'text' and 'image'."
                )
            if missing := [key for key in self.parts if item.get(key) is None]:
                kind = {("image",): "a text-only input", ("text",): "an image-only input"}.get(
                    tuple(missing), "an input with neither text nor image"
                )
                raise InvalidInputError(
                    f"This is a text-image classifier: input {position} is {kind} (no {' and no '.join(missing)}); "
                    f"{PAIR_EXPECTED}."
                )
            for name in self.parts:
                split[name].append(item[name])
        return split


register_modality(TextImageModality())
