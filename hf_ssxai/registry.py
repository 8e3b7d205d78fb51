"""Registries: name -> object tables that the modules defining the objects fill themselves.

As PEFT's ``register_peft_method`` lets a tuner package add itself, a modality module, an explainer or a command
registers under its name, and the rest of the toolkit looks it up here instead of naming it. A lookup of an unknown
name raises a typed error that lists the known names and suggests the nearest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from .errors import InvalidInputError, SSXAIError, UnsupportedClassifierError

T = TypeVar("T")


def nearest(name: str, known: list[str] | tuple[str, ...] | set[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``name``, or an empty string when none is close."""
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Mapping[str, T], Generic[T]):
    """A name -> object table in registration order; unknown names raise ``error`` naming the known ones."""

    def __init__(self, kind: str, error: type[SSXAIError] = InvalidInputError) -> None:
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, exist_ok: bool = False) -> T:
        """Add ``item`` under ``name`` (``exist_ok`` replaces an earlier one); returns ``item``."""
        if name in self._items and not exist_ok:
            raise self.error(f"A {self.kind} named {name!r} is already registered; pass exist_ok=True to replace it.")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` (e.g. a modality a test registered)."""
        self._items.pop(name, None)

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(self._items)
            raise self.error(
                f"Unknown {self.kind} {name!r}{nearest(name, list(self._items))}; known: {known}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._items.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


#: every modality by name, filled by ``hf_ssxai.modalities.register_modality`` (ScorerConfig accepts these names)
MODALITY_REGISTRY: Registry = Registry("modality", UnsupportedClassifierError)
