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

import inspect
from typing import Any

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from .base import ALL_MASKED, Modality
from .image import ImageModality, _as_pair
from .text import TextModality, special_token_ids

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")


class TextImageModality(Modality):
    name = "text-image"
    extra_input_names = ("special_tokens_mask",)
    parts = {"text": TextModality(), "image": ImageModality()}

    # ---------------------------------------------------------------- the classifier's parts
    @staticmethod
    def encoders(classifier: nn.Module) -> dict[str, nn.Module]:
        """The classifier's text and vision encoders, by modality."""
        base = getattr(classifier, "base_model", classifier)
        return {"text": base.text_model, "image": base.vision_model}

    def check_classifier(self, classifier: nn.Module) -> None:
        base = getattr(classifier, "base_model", classifier)
        parameters = inspect.signature(classifier.forward).parameters
        if not (hasattr(base, "text_model") and hasattr(base, "vision_model")) or not {
            "inputs_embeds",
            "pixel_values",
        } <= set(parameters):
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} is not a text-image fusion classifier: it needs a text_model and a "
                "vision_model and a forward taking inputs_embeds and pixel_values. Use "
                "hf_ssxai.FusionForSequenceClassification."
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
            raise ValueError(
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

    def default_layers(self, hidden_states: Any) -> list[int]:
        raise NotImplementedError("Text-image layers are chosen per modality by attach().")

    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        raise NotImplementedError("Text-image widths are read per modality by attach().")

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

    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> dict[str, torch.Tensor]:
        return {name: part.feature_mask(inputs, config) for name, part in self.parts.items()}

    def split_inputs(
        self, classifier: nn.Module, inputs: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        maskable = {"text": classifier.get_input_embeddings()(inputs["input_ids"]), "image": inputs["pixel_values"]}
        forward_kwargs = {
            k: v for k, v in self.classifier_inputs(inputs).items() if k not in ("input_ids", "pixel_values")
        }
        return maskable, forward_kwargs

    def expand_scores(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: part.expand_scores(scores[name]) for name, part in self.parts.items()}

    def random_keep_mask(
        self, feature_mask: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return {name: part.random_keep_mask(feature_mask[name], generator) for name, part in self.parts.items()}

    def reduce_to_features(self, attribution: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: part.reduce_to_features(attribution[name]) for name, part in self.parts.items()}

    def apply_scores(
        self,
        maskable: dict[str, torch.Tensor],
        scores: dict[str, torch.Tensor],
        feature_mask: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Each modality weighted by its own map (features that are not valid are left untouched)."""
        return {
            name: part.apply_scores(maskable[name], scores[name], feature_mask[name])
            for name, part in self.parts.items()
        }

    def forward_from_maskable(
        self, classifier: nn.Module, maskable: dict[str, torch.Tensor], forward_kwargs: dict[str, Any]
    ) -> torch.Tensor:
        arguments = {part.maskable_argument: maskable[name] for name, part in self.parts.items()}
        return classifier(**forward_kwargs, **arguments, return_dict=True).logits

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
