"""What a text classifier's config and tokenizer say about its tokens: special token ids, the position limit, the
longest text both allow, the section of a nested config that describes the text."""

from __future__ import annotations

import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)

SPECIAL_TOKEN_ATTRIBUTES = ("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id")


def text_config(classifier_config: Any) -> Any:
    """The section of a classifier config that describes its text (``text_config`` of a nested config)."""
    getter = getattr(classifier_config, "get_text_config", None)
    return getter() if callable(getter) else getattr(classifier_config, "text_config", classifier_config)


def special_token_ids_from_config(classifier_config: Any) -> list[int]:
    """Special token ids a classifier config names, its text section's included (used without a tokenizer)."""
    ids: set[int] = set()
    for section in {id(c): c for c in (classifier_config, text_config(classifier_config))}.values():
        for attribute in SPECIAL_TOKEN_ATTRIBUTES:
            value = getattr(section, attribute, None)
            values = value if isinstance(value, (list, tuple)) else [value]
            ids.update(v for v in values if isinstance(v, int) and v >= 0)
    return sorted(ids)


def position_limit(classifier_config: Any) -> int | None:
    """The longest sequence the classifier's position embeddings take; None when there is no limit (XLNet says
    -1, relative-position models say nothing)."""
    limit = getattr(text_config(classifier_config), "max_position_embeddings", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def first_token_id(section: Any, *names: str) -> int | None:
    """The first of the token ids ``names`` that the config section sets (the first of a list of them)."""
    for name in names:
        value = getattr(section, name, None)
        value = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, int) and value >= 0:
            return value
    return None


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


def model_max_length(tokenizer: Any, classifier_config: Any) -> int | None:
    """The longest text the tokenizer and the classifier's (text encoder's) position embeddings both allow; a
    text-image recipe sets its tokenizer's ``model_max_length`` to the length it trained with."""
    limits = (getattr(tokenizer, "model_max_length", None), position_limit(classifier_config))
    limits = [limit for limit in limits if isinstance(limit, int)]
    return min(limits) if limits else None


def framing_token_ids(tokenizer: Any) -> torch.Tensor | None:
    """The ids of the tokens a tokenizer adds around a text or pads it with ([CLS], [SEP], <s>, </s>, [PAD]): no
    evidence can lie there. None without a tokenizer."""
    if not hasattr(tokenizer, "pad"):
        return None
    ids = {getattr(tokenizer, attribute, None) for attribute in SPECIAL_TOKEN_ATTRIBUTES}
    return torch.tensor(sorted(i for i in ids if isinstance(i, int) and i >= 0), dtype=torch.long)
