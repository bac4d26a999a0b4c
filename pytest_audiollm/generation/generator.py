"""AudioGenerator: the protocol of a text-to-audio model under test, and the registry its hook fills."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.errors import ModelOutputError
from pytest_audiollm.models.protocol import AudioModel

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.models.protocol import Request
    from pytest_audiollm.registry import ModelFactory, ModelRegistry

__all__ = ["AudioGenerator", "GeneratorRegistry"]


class AudioGenerator(AudioModel):
    """A model whose output is audio: text prompts in, one mono waveform per prompt out, at ``sample_rate``.

    It has the lifecycle of an :class:`~pytest_audiollm.AudioModel` (``memory_estimate``, ``load``, ``unload``,
    ``fingerprint``, loaded once per process under the memory budget) and runs on benchmarks of task
    ``generation`` only. Register it with the ``pytest_audiollm_register_generators`` hook.
    """

    sample_rate: int = 16000

    @abc.abstractmethod
    def generate(self, prompts: Sequence[str]) -> Sequence[npt.NDArray[np.float32]]:
        """One float waveform in [-1, 1] per prompt, at ``self.sample_rate``, in the same order."""

    def warmup(self) -> None:
        """Generators are not warmed up by default (one generation can take seconds)."""

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        raise ModelOutputError(
            f"model {self.options.name!r} is an audio generator: it runs on benchmarks of task generation only"
        )


class GeneratorRegistry:
    """What ``pytest_audiollm_register_generators`` receives: generators share the names of models."""

    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    def add(self, name: str, factory: ModelFactory, description: str = "") -> None:
        """Register ``factory(options) -> AudioGenerator`` as ``--audiollm-model NAME``."""
        self._models.add(name, factory, description)
        self._models.generators.add(name)
