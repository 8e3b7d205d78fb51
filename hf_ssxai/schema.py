"""Strict configuration sections: a dataclass read from a mapping, refusing keys that are no field.

The recipe YAML is parsed the way ``transformers.HfArgumentParser.parse_dict`` parses a dict into dataclasses with
``allow_extra_keys=False``, one level further: a field whose type is a dataclass is a nested section, parsed the
same way. An unknown key is an :class:`~hf_ssxai.errors.UnknownKeyError` naming the section, the key and the
nearest valid key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .errors import ConfigError, UnknownKeyError
from .registry import nearest

T = TypeVar("T")


def check_keys(values: Mapping[str, Any], allowed: Iterable[str], section: str) -> None:
    """Raise :class:`UnknownKeyError` for the first key of ``values`` that is not ``allowed``."""
    allowed = sorted(allowed)
    for key in values:
        if key not in allowed:
            raise UnknownKeyError(
                f"{section} has no key {key!r}{nearest(key, allowed)}; valid keys: {', '.join(allowed)}."
            )


def _section_type(annotation: Any) -> type | None:
    """The dataclass a field holds (also inside ``X | None``), or None for any other field."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    candidates = typing.get_args(annotation) if union else (annotation,)
    return next((c for c in candidates if dataclasses.is_dataclass(c) and isinstance(c, type)), None)


def parse_section(cls: type[T], values: Any, section: str) -> T:
    """``cls(**values)`` after checking every key is a field of ``cls`` (nested dataclass fields recursively) and
    every field without a default is given."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{section} must be a mapping of keys to values, got {type(values).__name__}: {values!r}.")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    check_keys(values, fields, section)
    hints = typing.get_type_hints(cls)
    arguments = {}
    for name, value in values.items():
        nested = _section_type(hints[name])
        arguments[name] = parse_section(nested, value, f"{section}.{name}") if nested and value is not None else value
    missing = [
        name
        for name, field in fields.items()
        if name not in arguments
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{section} lacks {', '.join(missing)}.")
    return cls(**arguments)
