"""Text: features are tokens, the maskable space is the classifier's static word embeddings.

The mask multiplies ``get_input_embeddings()(input_ids)`` and the result goes back through
``inputs_embeds``, so position and token-type embeddings and the embedding LayerNorm apply as usual.
Padding and special tokens are never features.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from .base import Modality

logger = logging.getLogger(__name__)

SPECIAL_TOKEN_ATTRIBUTES = ("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id")


def special_token_ids_from_config(classifier_config: Any) -> list[int]:
    """Special token ids a classifier config names (used when no tokenizer is given)."""
    ids: set[int] = set()
    for attribute in SPECIAL_TOKEN_ATTRIBUTES:
        value = getattr(classifier_config, attribute, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        ids.update(v for v in values if isinstance(v, int) and v >= 0)
    return sorted(ids)


def special_token_ids(classifier_config: Any, tokenizer: Any = None) -> list[int]:
    """The tokenizer's special token ids; without a tokenizer those the classifier config names (with a warning)."""
    if tokenizer is not None and hasattr(tokenizer, "all_special_ids"):
        return sorted(set(tokenizer.all_special_ids))
    ids = special_token_ids_from_config(classifier_config)
    logger.warning(
        "No tokenizer given: special tokens are taken from the classifier config (%s). Pass "
        "processor=tokenizer so [CLS]/[SEP]-like tokens are never scored.",
        ids,
    )
    return ids


class TextModality(Modality):
    name = "text"
    maskable_argument = "inputs_embeds"
    feature_channel_dim = -1
    extra_input_names = ("special_tokens_mask",)

    def check_classifier(self, classifier: nn.Module) -> None:
        embeddings = classifier.get_input_embeddings() if hasattr(classifier, "get_input_embeddings") else None
        if not isinstance(embeddings, nn.Embedding):
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} has no word-embedding table (get_input_embeddings() must return "
                "an nn.Embedding); the text scorer masks word embeddings. Use a transformers text classifier."
            )
        if "inputs_embeds" not in inspect.signature(classifier.forward).parameters:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__}.forward does not accept inputs_embeds, which masking needs. "
                "Use a classifier whose forward takes inputs_embeds (BERT, RoBERTa, DistilBERT, ELECTRA, ...)."
            )

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        super().attach(classifier, config, processor)
        if config.special_token_ids is None:
            config.special_token_ids = special_token_ids(classifier.config, processor)

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        device = classifier.get_input_embeddings().weight.device
        vocab_size = classifier.get_input_embeddings().num_embeddings
        input_ids = torch.arange(4, device=device).remainder(vocab_size).unsqueeze(0)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        return [-1]

    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        return hidden_state.shape[-1]

    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        input_ids = inputs.get("input_ids")
        if input_ids is None:
            raise InvalidInputError(
                "Text models need input_ids (masking starts from the word embeddings of the tokens); "
                f"got only {sorted(inputs)}. Pass the tokenizer's output: "
                "model(**tokenizer(texts, return_tensors='pt')).",
            )
        if (
            not isinstance(input_ids, torch.Tensor)
            or input_ids.dim() != 2
            or input_ids.dtype
            not in (
                torch.int64,
                torch.int32,
            )
        ):
            raise InvalidInputError(
                "input_ids must be an integer tensor of shape [batch, sequence]; "
                f"got {type(input_ids).__name__} {tuple(getattr(input_ids, 'shape', ()))}. "
                "Tokenize with return_tensors='pt'."
            )
        batch, length = input_ids.shape
        if batch == 0 or length == 0:
            raise InvalidInputError(
                f"Empty batch: input_ids has shape {tuple(input_ids.shape)}. Give at least one text."
            )
        for name in ("attention_mask", "token_type_ids", "special_tokens_mask"):
            other = inputs.get(name)
            if other is not None and tuple(other.shape) != (batch, length):
                raise InvalidInputError(
                    f"{name} has shape {tuple(other.shape)} but input_ids has {(batch, length)}; "
                    "pass the tokenizer's outputs together, unmodified."
                )
        limit = getattr(classifier.config, "max_position_embeddings", None)
        if isinstance(limit, int) and length > limit:
            raise InvalidInputError(
                f"Sequence length {length} exceeds the classifier's max_position_embeddings ({limit}). "
                f"Tokenize with truncation=True, max_length={limit}."
            )
        vocab_size = classifier.get_input_embeddings().num_embeddings
        if ((input_ids < 0) | (input_ids >= vocab_size)).any():  # one device sync, not two
            raise InvalidInputError(
                f"input_ids contain ids outside the vocabulary [0, {vocab_size}); "
                "use the tokenizer that belongs to this classifier."
            )

    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> torch.Tensor:
        input_ids = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        special_tokens_mask = inputs.get("special_tokens_mask")
        if special_tokens_mask is not None:
            return valid & ~special_tokens_mask.bool()
        if config.special_token_ids:
            special = torch.tensor(config.special_token_ids, device=input_ids.device, dtype=input_ids.dtype)
            valid = valid & ~torch.isin(input_ids, special)
        return valid

    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        forward_kwargs = {k: v for k, v in self.classifier_inputs(inputs).items() if k != "input_ids"}
        return classifier.get_input_embeddings()(inputs["input_ids"]), forward_kwargs

    def expand_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.unsqueeze(-1)

    def random_keep_mask(self, feature_mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each token kept with a keep rate drawn uniformly per sample."""
        rate = torch.rand(feature_mask.shape[0], 1, device=feature_mask.device, generator=generator)
        return (torch.rand(feature_mask.shape, device=feature_mask.device, generator=generator) < rate).float()

    def scorer_features(
        self,
        hidden_states: tuple[torch.Tensor, ...],
        layers: list[int],
        inputs: dict[str, Any],
        classifier: nn.Module,
    ) -> list[torch.Tensor]:
        return self.select(hidden_states, layers)
