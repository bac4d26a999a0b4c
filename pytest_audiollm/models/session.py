"""ModelSession: one model's lifecycle in one process (placement and budget check, load, warm-up, predict, unload).

Models that can choose their placement (``plan_placement(device, budget)``, see
:mod:`pytest_audiollm.models.placement`; the ``hf:`` adapter and its families) are asked to plan with the
budget before ``memory_estimate()``; the estimate then is the planned size (quantized, or summed over a device
map) and the memory probe sums the counters of every device the placement uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pytest_audiollm.errors import AudioLLMError, BudgetExceeded, MissingDependency
from pytest_audiollm.models.memory import MemoryProbe, resolve_device
from pytest_audiollm.models.placement import Placement
from pytest_audiollm.models.protocol import AudioGenerator, AudioModel, Subject
from pytest_audiollm.records import SubjectStats
from pytest_audiollm.units import format_size

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.models.protocol import ModelOptions, Request
    from pytest_audiollm.models.registry import ModelFactory

T = TypeVar("T")


class UnloadFailed(AudioLLMError):
    """The subject's unload() raised: reported on its own last item; the next subject loads as usual."""


class LoadFailed(AudioLLMError):
    """The model's factory or load() raised: every item of this model reports the same reason."""


@dataclass
class ModelSession:
    """Owns one model instance: created and loaded on first use, unloaded after its last item."""

    name: str
    factory: ModelFactory
    options: ModelOptions
    budget: int | None = None
    stats: SubjectStats = field(default_factory=SubjectStats)
    model: Subject | None = None
    failure: AudioLLMError | None = None
    _probe: MemoryProbe | None = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def ensure_loaded(self) -> Subject:
        """The loaded model; raises BudgetExceeded, MissingDependency or LoadFailed (remembered for later items)."""
        if self.model is not None:
            return self.model
        if self.failure is not None:
            raise self.failure
        try:
            self.model = self._load()
        except AudioLLMError as exc:
            self.failure = exc
            raise
        return self.model

    def _load(self) -> Subject:
        try:
            model = self.factory(self.options)
        except MissingDependency:
            raise
        except Exception as exc:
            raise LoadFailed(f"model {self.name!r} could not be created: {_why(exc)}") from exc
        device = "cpu" if getattr(model, "cpu_only", False) else resolve_device(self.options.device)
        self.stats.device = device
        self.stats.budget_bytes = self.budget
        planner = getattr(model, "plan_placement", None)
        placement: Placement | None = None
        try:
            if callable(planner):
                planned = planner(device, self.budget)
                placement = planned if isinstance(planned, Placement) else None
            estimate = model.memory_estimate()
        except (MissingDependency, BudgetExceeded):
            raise
        except Exception as exc:
            raise LoadFailed(f"model {self.name!r}: memory_estimate() raised {_why(exc)}") from exc
        self.stats.estimate_bytes = estimate
        self.stats.placement = placement.to_json() if placement is not None else None
        if self.budget is not None and estimate is not None and estimate > self.budget:
            raise BudgetExceeded(
                f"model {self.name!r} needs an estimated {format_size(estimate)} ({estimate} bytes) on {device}, "
                f"more than the memory budget of {format_size(self.budget)} ({self.budget} bytes): not loaded. "
                f"Raise --audiollm-memory-budget, or choose a smaller or quantized model "
                f"(hf-based models: --audiollm-quantize 8bit, 4bit or auto)."
            )
        self._probe = probe = MemoryProbe(placement.devices if placement is not None else device)
        try:
            probe.start("load")
            started = time.perf_counter()
            model.load(device)
            loaded = time.perf_counter()
            probe.end("load")
            probe.start("warmup")
            warm = time.perf_counter()
            model.warmup()
            warmed = time.perf_counter()
            probe.end("warmup")
        except MissingDependency:
            self._safe_unload(model)
            raise
        except Exception as exc:
            self._safe_unload(model)
            raise LoadFailed(f"model {self.name!r} failed to load on {device}: {_why(exc)}") from exc
        self.stats.load_s += loaded - started
        self.stats.warmup_s += warmed - warm
        self.stats.loads += 1
        self.stats.fingerprint = str(model.fingerprint())
        digest = getattr(model, "adapter_digest", None)
        self.stats.adapter_digest = digest if isinstance(digest, str) else None
        self._record_peaks(probe)
        return model

    def _record_peaks(self, probe: MemoryProbe) -> None:
        stats = self.stats
        stats.peak_load_bytes = max(stats.peak_load_bytes, probe.peaks["load"])
        stats.peak_warmup_bytes = max(stats.peak_warmup_bytes, probe.peaks["warmup"])
        stats.peak_predict_bytes = max(stats.peak_predict_bytes, probe.peaks["predict"])
        stats.peak_bytes = max(stats.peak_bytes, probe.peak)

    def audio_model(self) -> AudioModel:
        """The loaded subject, which must be an AudioModel (it answers in text)."""
        model = self.ensure_loaded()
        if not isinstance(model, AudioModel):
            raise _wrong_kind(self.name, model, "an AudioModel")
        return model

    def audio_generator(self) -> AudioGenerator:
        """The loaded subject, which must be an AudioGenerator (it answers with audio)."""
        model = self.ensure_loaded()
        if not isinstance(model, AudioGenerator):
            raise _wrong_kind(self.name, model, "an AudioGenerator")
        return model

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        """``predict()`` of the loaded AudioModel, through the one timed, memory-probed call path."""
        model = self.audio_model()
        return self.call(lambda _: model.predict(requests), len(requests))

    def generate(self, prompts: Sequence[str]) -> Sequence[npt.NDArray[np.float32]]:
        """``generate()`` of the loaded AudioGenerator, through the one timed, memory-probed call path."""
        model = self.audio_generator()
        return self.call(lambda _: model.generate(prompts), len(prompts))

    def call(self, work: Callable[[Subject], T], count: int) -> T:
        """Run ``work(subject)`` as one call of the subject: timed into ``predict_s`` (with ``count`` items in
        ``predicted``, one batch), with its memory high-water mark in ``peak_predict_bytes``."""
        model = self.ensure_loaded()
        probe = self._probe
        if probe is not None:
            probe.start("predict")  # before the clock starts: reading /proc is not the model's time
        started = time.perf_counter()
        try:
            return work(model)
        finally:
            self.stats.predict_s += time.perf_counter() - started
            self.stats.predicted += count
            self.stats.batches += 1
            if probe is not None:
                probe.end("predict")
                self._record_peaks(probe)

    def unload(self) -> None:
        """Unload the subject; it counts as unloaded even when its ``unload()`` raises (UnloadFailed, once)."""
        if self.model is not None:
            model, self.model = self.model, None
            try:
                self._safe_unload(model)
            except Exception as exc:
                raise UnloadFailed(f"model {self.name!r}: unload() raised {_why(exc)}") from exc

    @staticmethod
    def _safe_unload(model: Subject) -> None:
        try:
            model.unload()
        finally:
            import gc

            gc.collect()


def _wrong_kind(name: str, model: Subject, wanted: str) -> AudioLLMError:
    from pytest_audiollm.errors import ModelOutputError

    return ModelOutputError(f"model {name!r} is a {model.kind}, not {wanted}: it cannot run this benchmark's task")


def _why(exc: Exception) -> str:
    """An error for a message: our own errors speak for themselves, others carry their type."""
    return str(exc) if isinstance(exc, AudioLLMError) else f"{type(exc).__name__}: {exc}"


class ModelPool:
    """The ModelSessions of this process, by model name; at most one model is loaded at a time."""

    def __init__(self, sessions: dict[str, ModelSession]) -> None:
        self.sessions = sessions
        self.unload_errors: list[str] = []  # unloads that raised outside an item's teardown

    def acquire(self, name: str) -> ModelSession:
        session = self.sessions[name]
        for other in self.sessions.values():
            if other is not session and other.loaded:
                try:
                    other.unload()
                except UnloadFailed as exc:  # the other model's problem, not this one's
                    self.unload_errors.append(str(exc))
        session.ensure_loaded()
        return session

    def release(self, name: str) -> None:
        self.sessions[name].unload()

    def close(self) -> list[str]:
        """Unload every subject; the unload errors of the session (each reported once)."""
        for session in self.sessions.values():
            try:
                session.unload()
            except UnloadFailed as exc:
                self.unload_errors.append(str(exc))
        return self.unload_errors
