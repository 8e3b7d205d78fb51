"""Text: features are tokens, the maskable space is the classifier's static word embeddings.

The mask multiplies ``get_input_embeddings()(input_ids)``, and the classifier reads the masked embeddings in place
of the looked-up ones (see :mod:`.word_embeddings`), so position and token-type embeddings, the embedding LayerNorm
and everything the classifier derives from ``input_ids`` (last-token or ``<eos>`` pooling, an encoder-decoder's
decoder inputs) apply as usual. Padding and special tokens are never features.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from ..scorers import TextScorer
from .base import CONVERT_FIRST, Masking, Modality, ModalityCard, SingleModality, check_transformers_classifier
from .evidence import EvidenceReading, decode_cell, feature_flags, quote, row_error
from .registry import register_modality
from .text_config import (
    first_token_id,
    framing_token_ids,
    model_max_length,
    position_limit,
    special_token_ids,
    special_token_ids_from_config,
    text_config,
)
from .text_evidence import TEXT_EVIDENCE_FORMATS, text_evidence_masks
from .word_embeddings import (
    embed,
    embedding_values,
    masked_embeddings,
    table_readers,
    vocabulary_size,
    word_embeddings,
)
from .words import word_scores

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

#: tokens of the probe that :meth:`TextModality.attach` runs (with a start and an end token where the config has them)
PROBE_TOKENS = 8


class EncoderDecoderHiddenStates(tuple):
    """An encoder-decoder classifier's hidden states: the encoder's, then the decoder's (``encoder_layers`` of the
    first kind). Both are one vector per input token; the decoder's are shifted right by one position."""

    encoder_layers: int

    def __new__(
        cls, encoder: tuple[torch.Tensor, ...], decoder: tuple[torch.Tensor, ...]
    ) -> EncoderDecoderHiddenStates:
        states = super().__new__(cls, (*encoder, *decoder))
        states.encoder_layers = len(encoder)
        return states


def pad_rows(rows: Sequence[Sequence[Any]], value: int, left: bool) -> torch.Tensor:
    """Rows of different lengths as one ``[rows, longest]`` tensor, filled with ``value`` on the padding side."""
    tensors = [torch.as_tensor(row) for row in rows]
    return pad_sequence(tensors, batch_first=True, padding_value=value, padding_side="left" if left else "right")


def pads_left(tokenizer: Any) -> bool:
    """Whether text batches are padded on the left (the tokenizer's choice; without a tokenizer on the right)."""
    return hasattr(tokenizer, "pad") and getattr(tokenizer, "padding_side", "right") == "left"


class TextModality(SingleModality):
    name = "text"
    main_input = "input_ids"
    maskable_argument = "inputs_embeds"
    feature_channel_dim = -1
    extra_input_names = ("special_tokens_mask",)
    auto_model_class = AutoModelForSequenceClassification
    processor_class = AutoTokenizer
    processor_file = "tokenizer_config.json"
    processor_attribute = "tokenizer"
    processor_description = "a tokenizer"
    input_description = "text"
    dataset_format = None  # token lists of different lengths, padded per batch
    evidence_formats = TEXT_EVIDENCE_FORMATS
    #: the reference code's text scorer normalizes its logits with a LayerNorm over the sequence
    thesis_options = {"head_normalization": "layer"}
    #: no deletion term (on SST-2 it made maps larger without reaching the front) and no binary penalty (graded maps,
    #: clearer than every other method's on SST-2): docs/training.md, "Defaults per modality"
    default_options = {"deletion_weight": 0.0, "use_binary_penalty": False}
    card = ModalityCard(
        scorer_kind="a few self-attention layers over the classifier's token hidden states",
        feature="token",
        limit="Special tokens and padding are never features: they score 0. Texts longer than the classifier's "
        "maximum length are truncated (the pipeline flags them with `truncated: True`).",
        example='["a great movie"]',
        attribution_shape="[batch, tokens]",
        pipeline_fields="[{'label': ..., 'score': ..., 'tokens': [...], 'words': [...], 'word_scores': [...], ...}]",
        pipeline_tag="text-classification",
    )

    def check_classifier(self, classifier: nn.Module) -> None:
        check_transformers_classifier(classifier, self.name)
        main_input = getattr(classifier, "main_input_name", self.main_input)
        if main_input != self.main_input:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} takes its tokens as {main_input!r}, not input_ids, so it cannot be "
                "called like other text classifiers (model(**tokenizer(texts))). Use a classifier whose main input "
                "is input_ids."
            )
        word_embeddings(classifier)
        if any(callable(getattr(module, "backward_pass", None)) for module in classifier.modules()):
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} has reversible layers, which compute their gradients only in train "
                "mode; the scorer's loss and the gradient explainers need gradients through the frozen classifier "
                "in eval mode. Use a classifier without reversible layers."
            )

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        super().attach(classifier, config, processor)
        if config.special_token_ids is None:
            config.special_token_ids = special_token_ids(classifier.config, processor)

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        """A text of ordinary tokens between the config's start and end tokens (BART-like classifiers pool
        ``<eos>``), no longer than the classifier's position limit."""
        section = text_config(classifier.config)
        special = set(special_token_ids_from_config(classifier.config))
        vocab_size = vocabulary_size(classifier)
        ordinary = [token for token in range(min(vocab_size, PROBE_TOKENS + len(special))) if token not in special]
        start, end = (
            first_token_id(section, "bos_token_id", "cls_token_id"),
            first_token_id(section, "eos_token_id", "sep_token_id"),
        )
        ends = [token for token in (start, end) if token is not None]
        limit = position_limit(classifier.config)
        body = ordinary[: PROBE_TOKENS if limit is None else max(1, min(PROBE_TOKENS, limit - len(ends)))]
        tokens = [start] * (start is not None) + body + [end] * (end is not None)
        table = word_embeddings(classifier)
        device = next(table.parameters(), next(classifier.parameters())).device
        input_ids = torch.tensor([tokens], device=device)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def hidden_states(self, outputs: Any) -> Any:
        """The hidden states; an encoder-decoder classifier's encoder and decoder states (the encoder's first)."""
        states = getattr(outputs, "hidden_states", None)
        encoder = getattr(outputs, "encoder_hidden_states", None)
        if states or not encoder:
            return states
        return EncoderDecoderHiddenStates(encoder, getattr(outputs, "decoder_hidden_states", None) or ())

    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        """The deepest hidden state with one vector per token (Funnel pools tokens away in its deeper layers); of an
        encoder-decoder classifier, the encoder's."""
        count = getattr(hidden_states, "encoder_layers", len(hidden_states))
        length = hidden_states[0].shape[1]
        return [max(index for index in range(count) if hidden_states[index].shape[1] == length)]

    def build_scorer(self, config: ScorerConfig) -> nn.Module:
        return TextScorer(config)

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
        limit = position_limit(classifier.config)
        if limit is not None and length > limit:
            raise InvalidInputError(
                f"Sequence length {length} exceeds the classifier's max_position_embeddings ({limit}). "
                f"Tokenize with truncation=True, max_length={limit}."
            )
        vocab_size = vocabulary_size(classifier)
        if ((input_ids < 0) | (input_ids >= vocab_size)).any():  # one device sync, not two
            raise InvalidInputError(
                f"input_ids contain ids outside the vocabulary [0, {vocab_size}); "
                "use the tokenizer that belongs to this classifier."
            )

    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> torch.Tensor:
        input_ids = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        # one rule on every path: a token is no feature if it pads, if the tokenizer marked it special, or if it has
        # a special token's id (a "[SEP]" typed in the text is [SEP] to the classifier, so it is no feature either)
        special_tokens_mask = inputs.get("special_tokens_mask")
        if special_tokens_mask is not None:
            valid = valid & ~special_tokens_mask.bool()
        if config.special_token_ids:
            special = torch.tensor(config.special_token_ids, device=input_ids.device, dtype=input_ids.dtype)
            valid = valid & ~torch.isin(input_ids, special)
        return valid

    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """The word embeddings of the tokens, and every classifier argument (``input_ids`` included: the classifier
        still reads them, see :meth:`run_from_maskable`)."""
        forward_kwargs = self.classifier_inputs(inputs)
        return embed(classifier, inputs["input_ids"]), forward_kwargs

    def run_from_maskable(
        self, classifier: nn.Module, maskable: torch.Tensor, forward_kwargs: dict[str, Any], **options: Any
    ) -> Any:
        """The classifier on its own ``input_ids`` with ``maskable`` in place of their word embeddings."""
        with masked_embeddings(classifier, forward_kwargs["input_ids"], maskable):
            return classifier(**forward_kwargs, **options, return_dict=True)

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
        return self._token_states(classifier, hidden_states, layers, inputs["input_ids"].shape[1])

    def check_layers(self, classifier: nn.Module, hidden_states: tuple[torch.Tensor, ...], layers: list[int]) -> None:
        """Every chosen hidden state has one vector per token (the first, the embeddings, always has)."""
        self._token_states(classifier, hidden_states, layers, hidden_states[0].shape[1])

    def _token_states(
        self, classifier: nn.Module, hidden_states: tuple[torch.Tensor, ...], layers: list[int], length: int
    ) -> list[torch.Tensor]:
        """The chosen hidden states, or :class:`UnsupportedClassifierError` for one with other than ``length``
        positions."""
        selected = self.select(hidden_states, layers)
        for index, state in zip(layers, selected, strict=True):
            if state.shape[1] != length:
                raise UnsupportedClassifierError(
                    f"Hidden state {index} of {type(classifier).__name__} has {state.shape[1]} positions for "
                    f"{length} tokens (the classifier pools tokens there); the text scorer needs one vector per "
                    "token. Set ScorerConfig.hidden_state_layers to layers that keep every token."
                )
        return selected

    def align_baselines(self, baselines: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """Baseline sample ``j``'s embedding at position ``i`` stands for position ``i`` of every explained text:
        longer baselines are truncated, shorter ones padded with zero embeddings (the masking baseline)."""
        length, have = maskable.shape[1], baselines.shape[1]
        return F.pad(baselines, (0, 0, 0, length - have)) if have < length else baselines[:, :length]

    def masking_hooks(self, classifier: nn.Module, masked: Masking, config: ScorerConfig) -> list[Any]:
        """Word embeddings are masked token by token as they leave the embedding table, wherever it is read (an
        encoder-decoder's decoder draws its own mask); special tokens never."""

        def embeddings_hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
            if not classifier.training:
                return output
            values = masked(self, embedding_values(output), self.feature_mask({"input_ids": args[0]}, config))
            return (values, *output[1:]) if isinstance(output, tuple) else values

        return [module.register_forward_hook(embeddings_hook) for module in table_readers(classifier)]

    # ---------------------------------------------------------------- datasets and batches
    def encode_dataset(self, dataset: Dataset, processor: Any, *, max_length: int | None, batch_size: int) -> Dataset:
        """Tokenize the text column, truncating to ``max_length``; not padded (pad per batch with
        ``DataCollatorWithPadding`` or :meth:`collate`)."""

        def encode(batch: dict[str, list]) -> dict[str, Any]:
            return processor(batch[self.name], truncation=True, max_length=max_length)

        return dataset.map(encode, batched=True, batch_size=batch_size, remove_columns=[self.name])

    def collate(
        self, rows: Mapping[str, Any], columns: Sequence[str], processor: Any, classifier_config: Any
    ) -> dict[str, torch.Tensor]:
        """Padded to the batch's longest sequence by the tokenizer or, without one, with the classifier config's
        ``pad_token_id`` (``attention_mask`` 0, ``special_tokens_mask`` 1)."""
        if hasattr(processor, "pad"):
            return dict(processor.pad({column: rows[column] for column in columns}, return_tensors="pt"))
        pad_values = {"input_ids": classifier_config.pad_token_id or 0, "special_tokens_mask": 1}
        return {column: pad_rows(rows[column], pad_values.get(column, 0), left=False) for column in columns}

    def evidence_to_masks(
        self, inputs: Sequence[Any], values: Sequence[Any], processor: Any, reading: EvidenceReading
    ) -> tuple[list[Any], list[int]]:
        """Spans, character offsets, words or token masks -> one 0/1 mask per text over its tokens as
        :meth:`encode_dataset` tokenizes it (same truncation, special tokens included, no padding)."""
        return text_evidence_masks(inputs, values, processor, reading)

    def evidence_mask(
        self, rows: Mapping[str, Any], reading: EvidenceReading, feature_mask: Any, processor: Any, main_input: str
    ) -> Any:
        """Per row a token position or a 0/1 mask with one entry per token of the row as stored (special tokens
        included; a padded row may also take one entry per token before its padding), checked row by row, then
        placed where the batch's padding puts the row's tokens. Evidence on a framing token ([CLS], [SEP], <s>, ...)
        or padding means a shifted mask and is refused; on other tokens that are no features ([UNK]) it is dropped,
        as the metrics drop it."""
        length, left = feature_mask.shape[1], pads_left(processor)
        framing = framing_token_ids(processor)
        masks = torch.zeros(feature_mask.shape, dtype=torch.bool)
        attention = rows.get("attention_mask")
        column = reading.column
        for index, (value, row) in enumerate(zip(rows[column], reading.rows(len(rows[column])), strict=True)):
            ids = torch.as_tensor(rows[main_input][index])
            stored = len(ids)
            real_tokens = (
                torch.ones(stored, dtype=torch.bool) if attention is None else torch.as_tensor(attention[index])
            )
            real = int(real_tokens.sum())
            value = decode_cell(value.tolist() if isinstance(value, torch.Tensor) else value)  # torch-formatted rows
            if isinstance(value, list) and len(value) not in (real, stored):
                padded = f", or {stored} with its padding" if stored != real else ""
                raise row_error(
                    column,
                    row,
                    f"one 0/1 entry per token of the row ({real}, special tokens included{padded})",
                    f"{len(value)} entries",
                    "Is the mask shifted, or made for another tokenization or truncation?",
                )
            size = real if isinstance(value, list) and len(value) == real else stored
            skipped = stored - size if left else 0  # a stored row's padding the mask leaves out
            start = length - stored + skipped if left else 0  # the batch pads on the tokenizer's side too
            if framing is None:
                allowed = feature_mask[index, start : start + size].cpu()
            else:
                allowed = (real_tokens.bool() & ~torch.isin(ids, framing))[skipped : skipped + size]
            flags = feature_flags(value, allowed, column, row, "token")
            if flags is None:
                raise row_error(
                    column,
                    row,
                    f"a token position or a 0/1 mask over the row's {size} tokens",
                    quote(value),
                    CONVERT_FIRST,
                )
            masks[index, start : start + size] = flags
        return masks.to(feature_mask.device) & feature_mask

    def input_length_limit(self, processor: Any, classifier_config: Any) -> int | None:
        return model_max_length(processor, classifier_config)

    # ---------------------------------------------------------------- the pipeline
    def check_processor(self, processor: Any) -> None:
        if not getattr(processor, "is_fast", False):
            raise InvalidInputError(
                f"The pipeline needs a fast tokenizer (for word offsets and truncation); got "
                f"{type(processor).__name__}. Load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
            )

    def check_texts(self, texts: Sequence[Any], offset: int, within: Modality | None = None) -> None:
        """Every text is a non-blank string, or :class:`InvalidInputError` naming the first that is not."""
        for position, text in enumerate(texts, offset):
            if not isinstance(text, str):
                raise self.wrong_input(text, position, within, "a string", "a string or a list of strings")
            if not text.strip():
                raise InvalidInputError(f"Input {position} is an empty text: give at least one word to explain.")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise InvalidInputError(
                    f"Input {position} is not valid Unicode: {error.reason} at character {error.start} "
                    f"({text[error.start : error.end]!r}). Decode the text with errors='replace', or remove that "
                    "character."
                ) from error

    def prepare_inputs(
        self, items: list[Any], processor: Any, offset: int, max_length: int | None, within: Modality | None = None
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Texts tokenized (padded per batch, truncated to ``max_length``, special tokens marked)."""
        self.check_texts(items, offset, within)
        encoding = processor(
            items,
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )
        return dict(encoding), (items, encoding, processor)

    def item_maps(self, context: Any, attributions: Any, feature_mask: Any) -> tuple[Any, Any]:
        """The text's own tokens: its row of the padded batch without the padding, on the tokenizer's side."""
        _, encoding, tokenizer = context
        length = encoding["input_ids"].shape[-1]
        own = slice(attributions.shape[-1] - length, None) if pads_left(tokenizer) else slice(0, length)
        return attributions[..., own], feature_mask[..., own]

    def explanations(
        self, context: Any, attributions: Any, feature_mask: Any, offset: int, max_length: int | None
    ) -> list[dict[str, Any]]:
        """Per text: tokens, words and their scores, the attributions over its tokens, and whether it was cut."""
        texts, encoding, tokenizer = context
        results = []
        for index, text in enumerate(texts):
            valid, kept = feature_mask[index], encoding["attention_mask"][index].bool()
            words, scores = word_scores(text, encoding, attributions[index], batch_index=index)
            truncated = bool(encoding.encodings[index].overflowing)
            if truncated:
                logger.warning(
                    "Input %d is longer than the model's maximum of %d tokens: it was truncated, and only its start "
                    "is explained (the result says truncated=True).",
                    offset + index,
                    max_length,
                )
            results.append(
                {
                    "tokens": tokenizer.convert_ids_to_tokens(encoding["input_ids"][index][valid].tolist()),
                    "token_scores": attributions[index][valid].tolist(),
                    "words": words,
                    "word_scores": scores.tolist(),
                    "attributions": attributions[index][kept],
                    "truncated": truncated,
                }
            )
        return results

    def explanation_columns(self, explanation: dict[str, Any], map_format: str) -> dict[str, Any]:
        """Tokens and words with their scores (float32), and whether the text was truncated; the map over every
        token (``attributions``, special tokens included) is left out: ``token_scores`` holds its valid part."""
        return {
            "tokens": explanation["tokens"],
            "token_scores": np.asarray(explanation["token_scores"], dtype=np.float32),
            "words": explanation["words"],
            "word_scores": np.asarray(explanation["word_scores"], dtype=np.float32),
            "truncated": explanation["truncated"],
        }


register_modality(TextModality())
