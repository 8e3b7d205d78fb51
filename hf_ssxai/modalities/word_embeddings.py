"""Where a text classifier looks up its word embeddings, and how masked embeddings take their place.

The text scorer's mask multiplies the word embeddings of the tokens. Instead of handing the classifier
``inputs_embeds`` (which many classifiers treat differently from ``input_ids``: decoder-only classifiers then pool
the last position even when it is padding, BART-like ones find no ``<eos>``, T5 refuses them), the classifier gets
its own ``input_ids`` and a forward hook on its embedding table returns the masked embeddings in place of the
looked-up ones. Everything a classifier derives from the ids (last-token pooling, ``<eos>`` pooling, the decoder
inputs of an encoder-decoder classifier) stays as it is, and the mask acts wherever the table is read: on the
encoder's tokens, and on the decoder's copy of them, shifted right by one position. An encoder-decoder classifier
may read one table through several modules that share its weight (BART's ``shared``, ``encoder.embed_tokens`` and
``decoder.embed_tokens``): each of them is hooked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import UnsupportedClassifierError


def word_embeddings(classifier: nn.Module) -> nn.Module:
    """The classifier's word-embedding module (``get_input_embeddings()``), or :class:`UnsupportedClassifierError`."""
    try:
        module = classifier.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        module = None
    if not isinstance(module, nn.Module):
        raise UnsupportedClassifierError(
            f"{type(classifier).__name__} has no word-embedding table (get_input_embeddings() returns none); the "
            "text scorer masks the word embeddings of the tokens, and character-hashing models (CANINE) have none. "
            "Use a classifier that looks up one embedding per token id."
        )
    return module


def embedding_values(output: Any) -> torch.Tensor:
    """The embeddings an embedding module returns (I-BERT's quantized table returns them with a scale)."""
    return output[0] if isinstance(output, tuple) else output


def embed(classifier: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The word embeddings of ``input_ids``, ``[batch, tokens, width]``: the tensor the text mask multiplies."""
    return embedding_values(word_embeddings(classifier)(input_ids))


def vocabulary_size(classifier: nn.Module) -> int:
    """How many token ids the word-embedding table holds."""
    module = word_embeddings(classifier)
    size = getattr(module, "num_embeddings", None)
    if size is None:
        weight = getattr(module, "weight", None)
        size = weight.shape[0] if isinstance(weight, torch.Tensor) else classifier.config.get_text_config().vocab_size
    return int(size)


def table_readers(classifier: nn.Module) -> list[nn.Module]:
    """The word-embedding module and every other embedding module of the classifier that reads the same table (a
    weight shared with it, as the encoder and decoder of BART-like classifiers do; a tied output layer is no
    reader)."""
    table = word_embeddings(classifier)
    weight = getattr(table, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return [table]
    shared = [
        module
        for module in classifier.modules()
        if module is not table and type(module) is type(table) and getattr(module, "weight", None) is weight
    ]
    return [table, *shared]


def _replacement(ids: torch.Tensor, looked_up: torch.Tensor, input_ids: torch.Tensor, masked: torch.Tensor) -> Any:
    """``masked`` where the table was read for ``input_ids`` (token by token, or time-major as XLNet reads them);
    for a decoder's copy of them (shifted right by one, its first token the decoder's start), the start's own
    embedding followed by ``masked`` shifted alike; None for any other read."""
    masked = masked.to(looked_up.dtype)
    if ids.dim() == 2 and ids.shape == input_ids.shape[::-1] and torch.equal(ids, input_ids.T):
        return masked.transpose(0, 1)
    if ids.shape != input_ids.shape or looked_up.shape != masked.shape:
        return None
    if torch.equal(ids, input_ids):
        return masked
    if torch.equal(ids[:, 1:], input_ids[:, :-1]):
        return torch.cat([looked_up[:, :1], masked[:, :-1]], dim=1)
    return None


@contextmanager
def masked_embeddings(classifier: nn.Module, input_ids: torch.Tensor, masked: torch.Tensor) -> Iterator[None]:
    """While inside, the classifier's embedding table returns ``masked`` for ``input_ids`` (see the module
    docstring); a forward in which the table was never read for them is an :class:`UnsupportedClassifierError`,
    since the mask would then act on nothing."""
    replaced = []

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if not args or not isinstance(args[0], torch.Tensor):
            return None
        values = _replacement(args[0], embedding_values(output), input_ids, masked)
        if values is None:
            return None
        replaced.append(True)
        return (values, *output[1:]) if isinstance(output, tuple) else values

    handles = [module.register_forward_hook(hook) for module in table_readers(classifier)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
    if not replaced:
        raise UnsupportedClassifierError(
            f"{type(classifier).__name__} never read its word-embedding table for input_ids, so masking its word "
            "embeddings would change nothing. Use a classifier that embeds input_ids with get_input_embeddings()."
        )
