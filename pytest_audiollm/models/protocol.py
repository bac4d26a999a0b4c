"""The subjects under test: one lifecycle, one kind of call each.

``Subject`` is the lifecycle every model under test shares (``memory_estimate``, ``load``, ``warmup``,
``unload``, ``fingerprint``; loaded once per process under the memory budget by a
:class:`~pytest_audiollm.models.session.ModelSession`). Its siblings add the one call the engine makes:

- :class:`AudioModel` (audio LLMs, ASR, classifiers): ``predict(requests) -> texts``;
- :class:`AudioGenerator` (text to audio): ``generate(prompts) -> waveforms``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.sample import Sample


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


class Subject(abc.ABC):  # noqa: B024 - the lifecycle has defaults; the siblings declare the abstract call
    """The lifecycle of every subject under test (models, generators): subclass a sibling, not this class.

    Subclasses implement ``load``/``unload`` when they hold weights, ``memory_estimate`` so the budget can be
    checked before loading, and ``fingerprint`` so results say exactly what was evaluated.
    """

    kind: ClassVar[str] = "subject"  # the call the engine makes: "model" (predict) or "generator" (generate)
    sample_rate: int = 16000
    cpu_only: bool = False  # True for subjects that never use an accelerator (skips device auto-detection)
    min_batch_size: int = 1  # batches handed to the subject are at least this large (servers: their concurrency)

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options if options is not None else ModelOptions(name=type(self).__name__)

    def memory_estimate(self) -> int | None:
        """Bytes the subject will take on its device once loaded, known before loading (None: unknown)."""
        return None

    def load(self, device: str) -> None:  # noqa: B027 - optional hook, empty by default
        """Put the weights on ``device`` (``cpu``, ``cuda``, ``cuda:N``)."""

    def warmup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Run once after load, before timing starts (not timed as part of the evaluation)."""

    def unload(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Free the weights (memory must go back to where it was before load)."""

    def fingerprint(self) -> str:
        """Identity of what is evaluated (weights digest, revision, config): goes into caches and results."""
        return f"{type(self).__module__}.{type(self).__qualname__}"


class AudioModel(Subject):
    """An audio model whose answers are text (audio LLMs, ASR, classifiers); subclass it and register a factory."""

    kind: ClassVar[str] = "model"
    max_audio_seconds: float | None = None  # longer clips reach predict() as windows of this length
    window_hop_seconds: float | None = None  # hop between windows (default: the window length, no overlap)

    def warmup(self) -> None:
        """Run once before timing starts; by default one predict() on half a second of silence."""
        self.predict([silence_request(self.sample_rate, 0.5)])

    @abc.abstractmethod
    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        """A batch of requests in, one text output per request out, in the same order."""

    def join_windows(self, outputs: Sequence[str], windows: Sequence[tuple[float, float]], request: Request) -> str:
        """One answer from the answers to the windows of a long clip (``windows`` in seconds)."""
        from pytest_audiollm.models.windowing import join_texts

        return join_texts(outputs, windows, request.task)


class AudioGenerator(Subject):
    """A model whose output is audio: text prompts in, one mono waveform per prompt out, at ``sample_rate``.

    It has the lifecycle of every subject (``memory_estimate``, ``load``, ``unload``, ``fingerprint``, loaded
    once per process under the memory budget) and runs on benchmarks of task ``generation``. Register it with
    the ``pytest_audiollm_register_generators`` hook. It is not warmed up by default (one generation can take
    seconds); override ``warmup`` to do so.
    """

    kind: ClassVar[str] = "generator"

    @abc.abstractmethod
    def generate(self, prompts: Sequence[str]) -> Sequence[npt.NDArray[np.float32]]:
        """One float waveform in [-1, 1] per prompt, at ``self.sample_rate``, in the same order."""


def silence_request(sample_rate: int, seconds: float) -> Request:
    """A request holding ``seconds`` of silence and no prompt: what warm-ups send."""
    import numpy as np

    from pytest_audiollm.sample import Sample

    silence = np.zeros(round(sample_rate * seconds), dtype=np.float32)
    return Request(
        audio=silence, sample_rate=sample_rate, prompt="", sample=Sample(id="warmup", audio=None, references=())
    )
