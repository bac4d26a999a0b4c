"""Registries that plugins fill through the ``pytest_audiollm_register_*`` hooks."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pytest_audiollm.errors import AudioLLMError

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.metrics.protocol import AnyMetric
    from pytest_audiollm.models.protocol import AudioModel, ModelOptions

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
        self._entries[name] = Entry(name, value, description or _doc(value))

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
            f"plugin package (see README), or run pytest --audiollm-list."
        )


ModelFactory = Callable[["ModelOptions"], "AudioModel"]


class ModelRegistry(Registry[ModelFactory]):
    """Model factories by name, plus prefixes such as ``hf:`` whose factory receives the rest of the name."""

    kind = "model"

    def __init__(self) -> None:
        super().__init__()
        self._prefixes: dict[str, Entry[ModelFactory]] = {}
        self.generators: set[str] = set()  # names registered through pytest_audiollm_register_generators

    def is_generator(self, name: str) -> bool:
        """Whether ``name`` is an audio generator (runs on generation benchmarks only)."""
        return name in self.generators

    def add_prefix(self, prefix: str, factory: ModelFactory, description: str = "") -> None:
        """``add_prefix("hf", f)``: ``--audiollm-model hf:PATH`` calls f with ``options.target == "PATH"``."""
        self._prefixes[prefix.rstrip(":")] = Entry(prefix.rstrip(":"), factory, description or _doc(factory))

    def prefixes(self) -> list[Entry[ModelFactory]]:
        return sorted(self._prefixes.values(), key=lambda e: e.name)

    def resolve(self, name: str) -> tuple[ModelFactory, str]:
        """The factory for a model name and the target it receives (the part after ``prefix:``)."""
        if name in self._entries:
            return self._entries[name].value, ""
        prefix, sep, target = name.partition(":")
        if sep and prefix in self._prefixes and target:
            return self._prefixes[prefix].value, target
        raise UnknownName(self.unknown_message(name))

    def knows(self, name: str) -> bool:
        prefix, sep, target = name.partition(":")
        return name in self._entries or bool(sep and target and prefix in self._prefixes)

    def unknown_message(self, name: str) -> str:
        message = super().unknown_message(name)
        prefixes = ", ".join(f"{p.name}:NAME" for p in self.prefixes())
        return message.replace(". Register", f"; prefixes: {prefixes}. Register", 1) if prefixes else message


class BenchmarkRegistry(Registry[Any]):
    """Benchmarks by name: a spec, a YAML path, or a list of them (a suite such as ``demo``)."""

    kind = "benchmark"

    def specs(self, name: str) -> list[BenchmarkSpec]:
        from pytest_audiollm.benchmarks.spec import BenchmarkSpec, load_spec

        value = self.get(name)
        items = value if isinstance(value, list | tuple) else [value]
        out: list[BenchmarkSpec] = []
        for item in items:
            out.append(item if isinstance(item, BenchmarkSpec) else load_spec(Path(item)))
        return out


class MetricRegistry(Registry["AnyMetric"]):
    kind = "metric"

    def add(self, name: str, value: AnyMetric, description: str = "") -> None:
        super().add(name, value, description or value.description)


def _doc(value: object) -> str:
    """The first line of a factory's or metric's docstring (not of a path or a list)."""
    if isinstance(value, str | Path | list | tuple):
        return ""
    doc = getattr(value, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
