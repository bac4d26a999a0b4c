"""The model registry (what ``pytest_audiollm_register_models`` / ``_register_generators`` receive).

Models and generators share one namespace (``--audiollm-model NAME`` selects either); each entry records the
kind of subject its factory makes, so a task kind can tell which selected subjects it evaluates.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_audiollm.models.protocol import Subject
from pytest_audiollm.registry import Entry, Registry, UnknownName, describe

__all__ = ["GeneratorRegistry", "ModelFactory", "ModelRegistry"]

ModelFactory = Callable[..., Subject]  # factory(options: ModelOptions) -> AudioModel | AudioGenerator


class ModelRegistry(Registry[ModelFactory]):
    """Model factories by name, plus prefixes such as ``hf:`` whose factory receives the rest of the name."""

    kind = "model"

    def __init__(self) -> None:
        super().__init__()
        self._prefixes: dict[str, Entry[ModelFactory]] = {}
        self._kinds: dict[str, str] = {}  # name -> subject kind ("model", "generator"); prefixes make models

    def add(self, name: str, value: ModelFactory, description: str = "", *, kind: str = "model") -> None:
        """Register ``factory(options)`` as ``--audiollm-model NAME``; ``kind`` is what it makes."""
        super().add(name, value, description)
        self._kinds[name] = kind

    def kind_of(self, name: str) -> str:
        """The kind of subject ``name`` makes: ``model`` (predict) or ``generator`` (generate)."""
        return self._kinds.get(name, "model")

    def add_prefix(self, prefix: str, factory: ModelFactory, description: str = "") -> None:
        """``add_prefix("hf", f)``: ``--audiollm-model hf:PATH`` calls f with ``options.target == "PATH"``."""
        self._prefixes[prefix.rstrip(":")] = Entry(prefix.rstrip(":"), factory, description or describe(factory))

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


class GeneratorRegistry:
    """What ``pytest_audiollm_register_generators`` receives: generators share the names of models."""

    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    def add(self, name: str, factory: ModelFactory, description: str = "") -> None:
        """Register ``factory(options) -> AudioGenerator`` as ``--audiollm-model NAME``."""
        self._models.add(name, factory, description, kind="generator")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._models and self._models.kind_of(name) == "generator"
