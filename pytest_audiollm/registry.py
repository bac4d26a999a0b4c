"""The registry base class: names the user types, what they stand for, and "did you mean" messages.

The registries that plugins fill through the ``pytest_audiollm_register_*`` hooks derive from it: models and
generators (:mod:`pytest_audiollm.models.registry`), benchmarks, metrics and task kinds.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pytest_audiollm.errors import AudioLLMError

T = TypeVar("T")


class UnknownName(AudioLLMError):
    """A name the user typed that nothing registered."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    description: str


class Registry(Generic[T]):
    kind: str = "entry"
    option: str = ""

    def __init__(self) -> None:
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, value: T, description: str = "") -> None:
        """Register ``value`` under ``name``; a later registration of the same name replaces the earlier one."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        self._entries[name] = Entry(name, value, description or describe(value))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].value
        except KeyError:
            raise UnknownName(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"unknown {self.kind} {name!r}.{hint} Registered {self.kind}s: {', '.join(self.names()) or 'none'}. "
            f"Register your own with the pytest_audiollm_register_{self.kind}s hook in a conftest.py or a "
            f"plugin package (docs: reference/hooks.md), or run pytest --audiollm-list."
        )


def describe(value: object) -> str:
    """The first line of a factory's or metric's docstring (not of a path or a list)."""
    if isinstance(value, str | Path | list | tuple):
        return ""
    doc = getattr(value, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
