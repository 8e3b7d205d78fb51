"""A text-image fusion classifier: a text encoder, a vision encoder, a small transformer over both token
sequences, and a classification head on a learned fusion token.

The fused sequence is ``[fusion token, text tokens, vision tokens]``: the text tokens are the text encoder's
last hidden state (one per input token, padding included and masked out of attention), the vision tokens
the vision encoder's last hidden state (ViT-like models: ``[CLS] + patches``; CNNs: the last feature map,
flattened row by row). Both encoders are ordinary transformers models, so the text side also accepts
``inputs_embeds``: that is where hf_ssxai masks words, as it does for any text classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..errors import InvalidInputError
from .configuration_fusion import FusionConfig


@dataclass
class FusionModelOutput(ModelOutput):
    """Output of :class:`FusionModel`.

    Args:
        last_hidden_state: the fused sequence after the final norm, ``[batch, 1 + text + vision tokens, fusion]``.
        pooler_output: the fusion token of ``last_hidden_state``, ``[batch, fusion]``.
        hidden_states: the fused sequence before the first fusion layer and after each one (with
            ``output_hidden_states``); the last entry is the fusion layers' output before the final norm.
        text_hidden_states: the text encoder's hidden states (with ``output_hidden_states``).
        vision_hidden_states: the vision encoder's hidden states (with ``output_hidden_states``).
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    text_hidden_states: tuple[torch.Tensor, ...] | None = None
    vision_hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class FusionClassifierOutput(ModelOutput):
    """Output of :class:`FusionForSequenceClassification`: the logits, plus the hidden states of
    :class:`FusionModelOutput` with ``output_hidden_states``."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    text_hidden_states: tuple[torch.Tensor, ...] | None = None
    vision_hidden_states: tuple[torch.Tensor, ...] | None = None


def encoder_width(config: PreTrainedConfig) -> int:
    """Width of an encoder's last hidden state (``hidden_size``, or the last of ``hidden_sizes`` for CNNs)."""
    sizes = getattr(config, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    return int(config.hidden_size)


def vision_tokens(last_hidden_state: torch.Tensor) -> torch.Tensor:
    """A vision encoder's last hidden state as tokens ``[batch, tokens, width]`` (feature maps are flattened)."""
    if last_hidden_state.dim() == 4:
        return last_hidden_state.flatten(2).transpose(1, 2)
    return last_hidden_state


def load_encoder(source: str | PreTrainedConfig | PreTrainedModel, **kwargs: Any) -> PreTrainedModel:
    """An encoder from a model, a config (random weights) or a Hub id / local folder (safetensors, no remote code)."""
    if isinstance(source, PreTrainedModel):
        return source
    if isinstance(source, PreTrainedConfig):
        return AutoModel.from_config(source)
    return AutoModel.from_pretrained(source, use_safetensors=True, trust_remote_code=False, **kwargs)


class FusionPreTrainedModel(PreTrainedModel):
    """Shared loading, saving and initialisation of the fusion models."""

    config: FusionConfig
    config_class = FusionConfig
    base_model_prefix = "fusion"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, FusionModel):
            init.normal_(module.fusion_token, mean=0.0, std=self.config.initializer_range)

    def get_input_embeddings(self) -> nn.Module:
        """The text encoder's word embeddings (where hf_ssxai masks text)."""
        return self.base_model.text_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.base_model.text_model.set_input_embeddings(value)

    @classmethod
    def from_text_vision_pretrained(
        cls,
        text_model: str | PreTrainedConfig | PreTrainedModel,
        vision_model: str | PreTrainedConfig | PreTrainedModel,
        **config_kwargs: Any,
    ) -> FusionPreTrainedModel:
        """Build a fusion model around two encoders, each given as a Hub id, a local folder, a config (random
        weights) or a model. The fusion layers and the head start fresh (the encoders' weights are kept as they
        are); ``config_kwargs`` go to :class:`FusionConfig` (``num_labels``, ``fusion_hidden_size``, ...)."""
        text, vision = load_encoder(text_model), load_encoder(vision_model)
        # copies: a composite config resets its sub-configs' attention implementation, the encoders keep theirs
        config = FusionConfig(text_config=text.config.to_dict(), vision_config=vision.config.to_dict(), **config_kwargs)
        return cls(config, text_model=text, vision_model=vision)


class FusionModel(FusionPreTrainedModel):
    """The two encoders and the fusion transformer; returns the fused sequence and its fusion token."""

    def __init__(
        self,
        config: FusionConfig,
        text_model: PreTrainedModel | None = None,
        vision_model: PreTrainedModel | None = None,
    ):
        super().__init__(config)
        self.text_model = text_model if text_model is not None else AutoModel.from_config(config.text_config)
        self.vision_model = vision_model if vision_model is not None else AutoModel.from_config(config.vision_config)
        # the encoders and the saved config share one config object each, so what is saved is what runs
        for encoder, name in ((self.text_model, "text_config"), (self.vision_model, "vision_config")):
            getattr(config, name)._attn_implementation = encoder.config._attn_implementation
            encoder.config = getattr(config, name)
        width = config.fusion_hidden_size
        self.text_projection = nn.Linear(encoder_width(config.text_config), width)
        self.vision_projection = nn.Linear(encoder_width(config.vision_config), width)
        self.modality_embeddings = nn.Embedding(2, width)  # 0: text, 1: vision
        self.fusion_token = nn.Parameter(torch.zeros(1, 1, width))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=width,
                nhead=config.fusion_num_attention_heads,
                dim_feedforward=config.fusion_intermediate_size,
                dropout=config.fusion_dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(config.fusion_num_layers)
        )
        self.norm = nn.LayerNorm(width)
        self.post_init()

    def fuse(
        self,
        text_states: torch.Tensor,
        vision_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The fusion layers alone, on the encoders' last hidden states (``vision_states`` as tokens or a feature
        map); returns the normed fused sequence and the sequence before and after each layer. With frozen
        encoders, their outputs can be computed once and fused many times (``benchmarks/caption_matching_probe.py``)."""
        text_part = self.text_projection(text_states)
        vision_part = self.vision_projection(vision_tokens(vision_states))
        kinds = self.modality_embeddings.weight
        batch = text_part.shape[0]
        fused = torch.cat(
            [self.fusion_token.expand(batch, -1, -1), text_part + kinds[0], vision_part + kinds[1]], dim=1
        )
        text_valid = (
            attention_mask.bool()
            if attention_mask is not None
            else torch.ones(text_part.shape[:2], dtype=torch.bool, device=fused.device)
        )
        keep = F.pad(F.pad(text_valid, (1, 0), value=True), (0, vision_part.shape[1]), value=True)
        padding = ~keep
        states = [fused]
        for layer in self.layers:
            fused = layer(fused, src_key_padding_mask=padding)
            states.append(fused)
        return self.norm(fused), tuple(states)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> FusionModelOutput:
        """Encode text (``input_ids`` or ``inputs_embeds``) and images (``pixel_values``), then fuse them."""
        if pixel_values is None or (input_ids is None and inputs_embeds is None):
            raise InvalidInputError("A fusion model needs both text (input_ids or inputs_embeds) and pixel_values.")
        output_hidden_states = bool(output_hidden_states)
        text_arguments = {
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "position_ids": position_ids,
        }
        text = self.text_model(
            input_ids=input_ids,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **{key: value for key, value in text_arguments.items() if value is not None},
        )
        vision = self.vision_model(
            pixel_values=pixel_values, output_hidden_states=output_hidden_states, return_dict=True
        )
        last, states = self.fuse(text.last_hidden_state, vision.last_hidden_state, attention_mask)
        output = FusionModelOutput(
            last_hidden_state=last,
            pooler_output=last[:, 0],
            hidden_states=states if output_hidden_states else None,
            text_hidden_states=text.hidden_states,
            vision_hidden_states=vision.hidden_states,
        )
        return output if return_dict is not False else output.to_tuple()


class FusionForSequenceClassification(FusionPreTrainedModel):
    """:class:`FusionModel` with a linear classification head on the fusion token (text-image pairs -> labels)."""

    def __init__(
        self,
        config: FusionConfig,
        text_model: PreTrainedModel | None = None,
        vision_model: PreTrainedModel | None = None,
    ):
        super().__init__(config)
        self.fusion = FusionModel(config, text_model=text_model, vision_model=vision_model)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.fusion_hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> FusionClassifierOutput:
        """Logits for each (text, image) pair; the cross-entropy loss too when ``labels`` are given
        (mean squared error when ``num_labels == 1``)."""
        outputs = self.fusion(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            pixel_values=pixel_values,
            output_hidden_states=output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits, labels.long())
        output = FusionClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            text_hidden_states=outputs.text_hidden_states,
            vision_hidden_states=outputs.vision_hidden_states,
        )
        return output if return_dict is not False else output.to_tuple()
