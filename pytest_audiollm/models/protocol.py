"""The model protocol: what every audio model under test implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.benchmarks.sample import Sample


@dataclass(frozen=True)
class ModelOptions:
    """What a model factory receives: the name the user typed and the run's settings."""

    name: str
    target: str = ""  # for prefixed names (hf:PATH) the part after the prefix
    device: str = "cpu"
    batch_size: int = 1
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One sample as a model sees it: decoded mono float32 audio at the model's rate, and the prompt."""

    audio: npt.NDArray[np.float32]
    sample_rate: int
    prompt: str
    sample: Sample
    task: str = ""
    choices: tuple[str, ...] = ()


class AudioModel(abc.ABC):
    """Base class (and protocol) of a model under test; subclass it and register a factory.

    Subclasses override ``predict``; ``load``/``unload`` when they hold weights; ``memory_estimate`` so the
    budget can be checked before loading; ``fingerprint`` so results say exactly what was evaluated.
    """

    sample_rate: int = 16000
    cpu_only: bool = False  # True for models that never use an accelerator (skips device auto-detection)
    max_audio_seconds: float | None = None  # longer clips reach predict() as windows of this length
    window_hop_seconds: float | None = None  # hop between windows (default: the window length, no overlap)
    min_batch_size: int = 1  # batches handed to predict() are at least this large (servers: their concurrency)

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options if options is not None else ModelOptions(name=type(self).__name__)

    def memory_estimate(self) -> int | None:
        """Bytes the model will take on its device once loaded, known before loading (None: unknown)."""
        return None

    def load(self, device: str) -> None:  # noqa: B027 - optional hook, empty by default
        """Put the weights on ``device`` (``cpu``, ``cuda``, ``cuda:N``)."""

    def warmup(self) -> None:
        """Run once before timing starts; by default one predict() on half a second of silence."""
        self.predict([silence_request(self.sample_rate, 0.5)])

    @abc.abstractmethod
    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        """A batch of requests in, one text output per request out, in the same order."""

    def join_windows(self, outputs: Sequence[str], windows: Sequence[tuple[float, float]], request: Request) -> str:
        """One answer from the answers to the windows of a long clip (``windows`` in seconds)."""
        from pytest_audiollm.windowing import join_texts

        return join_texts(outputs, windows, request.task)

    def unload(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Free the weights (memory must go back to where it was before load)."""

    def fingerprint(self) -> str:
        """Identity of what is evaluated (weights digest, revision, config): goes into caches and results."""
        return f"{type(self).__module__}.{type(self).__qualname__}"


def silence_request(sample_rate: int, seconds: float) -> Request:
    """A request holding ``seconds`` of silence and no prompt: what warm-ups send."""
    import numpy as np

    from pytest_audiollm.benchmarks.sample import Sample

    silence = np.zeros(round(sample_rate * seconds), dtype=np.float32)
    return Request(
        audio=silence, sample_rate=sample_rate, prompt="", sample=Sample(id="warmup", audio=None, references=())
    )
