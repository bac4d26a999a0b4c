"""Errors a user can cause, each carrying a one-paragraph message that says what to fix."""

from __future__ import annotations


class AudioLLMError(Exception):
    """Base class of every error pytest-audiollm reports to the user."""


class SpecError(AudioLLMError):
    """A benchmark YAML (or registered spec) is invalid: names the file, the key and what was expected."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: key '{key}'" if key else source
        super().__init__(f"{where}: {message}")


class SampleError(AudioLLMError):
    """One sample cannot be used (missing or unreadable audio, bad manifest line): fails only its item."""


class MissingDependency(AudioLLMError):
    """An optional package is not installed; items that need it are skipped with the install command."""

    def __init__(self, package: str, needed_for: str, extra: str | None = None) -> None:
        self.package = package
        self.needed_for = needed_for
        self.install = f"pip install 'pytest-audiollm[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{needed_for} needs the '{package}' package, which is not installed: {self.install}")


class ModelOutputError(AudioLLMError):
    """A model broke the protocol (wrong number of outputs, non-text output)."""


class BudgetExceeded(AudioLLMError):
    """A model's memory estimate is larger than the memory budget: it is not loaded."""
