"""Helpers for testing models, generators and plugins: tiny audio, requests, and a conformance check.

For plugin authors (and this project's own tests)::

    from pytest_audiollm.testing import check_model, make_request, sine

    def test_my_model_keeps_the_protocol():
        report = check_model(MyModel(ModelOptions(name="mine")))
        assert report.ok, report.describe()

Nothing here is imported by the plugin itself; numpy and soundfile are imported when a helper runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.models.protocol import AudioGenerator, AudioModel, Request, Subject
from pytest_audiollm.sample import AudioRef, Sample

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "CheckReport", "builtin_registries", "check_model", "make_request", "make_requests", "noise", "silence", "sine",
    "write_audio",
]  # fmt: skip


def sine(
    freq: float = 440.0, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.5, channels: int = 1
) -> npt.NDArray[np.float32]:
    """A sine tone as float32: shape ``(n,)`` for mono, ``(n, channels)`` otherwise."""  # fmt: skip
    import numpy as np

    t = np.arange(round(rate * seconds), dtype=np.float64) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def noise(seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.1, seed: int = 0) -> npt.NDArray[np.float32]:
    """Seeded white noise as float32 mono."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(rate * seconds))).astype(np.float32)


def silence(seconds: float = 1.0, rate: int = 16000) -> npt.NDArray[np.float32]:
    import numpy as np

    return np.zeros(round(rate * seconds), dtype=np.float32)


def write_audio(path: str | Path, audio: npt.NDArray[Any], rate: int = 16000, subtype: str | None = None) -> Path:
    """Write ``audio`` with soundfile (format from the suffix: .wav, .flac, .ogg); returns the path."""
    import soundfile as sf

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(target), audio, rate, subtype=subtype)
    return target


def make_request(
    audio: npt.NDArray[np.float32] | None = None,
    *,
    prompt: str = "What is this sound?",
    rate: int = 16000,
    sample_id: str = "s0",
    references: Sequence[str] = (),
    task: str = "",
    choices: Sequence[str] = (),
    audio_path: str | None = None,
) -> Request:
    """A Request as the engine builds one (one second of 440 Hz by default)."""
    samples = sine(rate=rate) if audio is None else audio
    sample = Sample(id=sample_id, audio=AudioRef(audio_path) if audio_path else None, references=tuple(references))
    return Request(audio=samples, sample_rate=rate, prompt=prompt, sample=sample, task=task, choices=tuple(choices))


def make_requests(
    count: int = 3,
    *,
    rate: int = 16000,
    seconds: Sequence[float] = (1.0, 1.5, 0.5),
    prompt: str = "What is this sound?",
    task: str = "",
) -> list[Request]:
    """``count`` requests with tones of different pitch and length (lengths cycle through ``seconds``)."""  # fmt: skip
    return [
        make_request(sine(220.0 * (i + 1), seconds[i % len(seconds)], rate), prompt=prompt, rate=rate,
                     sample_id=f"s{i}", task=task)
        for i in range(count)
    ]  # fmt: skip


@dataclass
class CheckReport:
    """What :func:`check_model` found: one line per problem (empty: the subject keeps the protocol)."""

    subject: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [f"{self.subject}: {'keeps the protocol' if self.ok else f'{len(self.problems)} problem(s)'}"]
        lines += [f"  problem: {p}" for p in self.problems] + [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def check_model(
    subject: Subject,
    *,
    device: str = "cpu",
    requests: Sequence[Request] | None = None,
    prompts: Sequence[str] = ("a dog barks", "rain on a roof"),
) -> CheckReport:
    """Load ``subject``, exercise its call (predict or generate), unload it; report protocol problems.

    Checked for every subject: ``memory_estimate()`` is None or a non-negative int, ``load``/``warmup``/``unload``
    do not raise, ``fingerprint()`` is a non-empty string and the same before and after a call, ``sample_rate``
    is a positive int. AudioModel: ``predict`` returns one ``str`` per request, in order, for a batch and for the
    same requests one by one (batch invariance is reported as a note, since sampling models may differ).
    AudioGenerator: ``generate`` returns one finite 1-D waveform (or ``(n, 1)``) in [-1, 1] per prompt.
    """  # fmt: skip
    import numpy as np

    report = CheckReport(type(subject).__name__)
    problems = report.problems
    rate = getattr(subject, "sample_rate", None)
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        problems.append(f"sample_rate must be a positive int, got {rate!r}")
        return report
    try:
        estimate = subject.memory_estimate()
    except Exception as exc:
        problems.append(f"memory_estimate() raised {type(exc).__name__}: {exc}")
        estimate = None
    if estimate is not None and (not isinstance(estimate, int) or estimate < 0):
        problems.append(f"memory_estimate() must return None or bytes (an int >= 0), got {estimate!r}")
    for step in ("load", "warmup"):
        try:
            subject.load(device) if step == "load" else subject.warmup()
        except Exception as exc:
            problems.append(f"{step}() raised {type(exc).__name__}: {exc}")
            return report
    try:
        before = subject.fingerprint()
        if not isinstance(before, str) or not before:
            problems.append(f"fingerprint() must return a non-empty string, got {before!r}")
        started = time.perf_counter()
        if isinstance(subject, AudioModel):
            _check_predict(subject, list(requests or make_requests(3, rate=rate)), report)
        elif isinstance(subject, AudioGenerator):
            _check_generate(subject, list(prompts), report, np)
        else:
            problems.append(f"{type(subject).__name__} is neither an AudioModel nor an AudioGenerator")
        report.notes.append(f"calls took {time.perf_counter() - started:.3f} s")
        if subject.fingerprint() != before:
            problems.append("fingerprint() changed after a call: it must identify the weights, not the state")
    finally:
        try:
            subject.unload()
        except Exception as exc:
            problems.append(f"unload() raised {type(exc).__name__}: {exc}")
    return report


def _check_predict(model: AudioModel, requests: list[Request], report: CheckReport) -> None:
    try:
        batch = list(model.predict(requests))
    except Exception as exc:
        report.problems.append(f"predict() of a batch of {len(requests)} raised {type(exc).__name__}: {exc}")
        return
    if len(batch) != len(requests):
        report.problems.append(f"predict() returned {len(batch)} outputs for {len(requests)} requests")
        return
    wrong = [type(out).__name__ for out in batch if not isinstance(out, str)]
    if wrong:
        report.problems.append(f"predict() must return strings, got {', '.join(sorted(set(wrong)))}")
        return
    single = []
    for request in requests:
        try:
            out = list(model.predict([request]))
        except Exception as exc:
            report.problems.append(f"predict() of one request raised {type(exc).__name__}: {exc}")
            return
        if len(out) != 1:
            report.problems.append(f"predict() returned {len(out)} outputs for 1 request")
            return
        single.append(out[0])
    if single != batch:
        report.notes.append("predict() answers differently in a batch than one by one (fine for sampling models)")


def _check_generate(generator: AudioGenerator, prompts: list[str], report: CheckReport, np: Any) -> None:
    try:
        waves = list(generator.generate(prompts))
    except Exception as exc:
        report.problems.append(f"generate() raised {type(exc).__name__}: {exc}")
        return
    if len(waves) != len(prompts):
        report.problems.append(f"generate() returned {len(waves)} waveforms for {len(prompts)} prompts")
        return
    for prompt, wave in zip(prompts, waves, strict=True):
        array = np.asarray(wave)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1 or array.size == 0:
            report.problems.append(f"generate({prompt!r}) must be a non-empty mono waveform, got shape {array.shape}")
        elif not np.isfinite(array).all():
            report.problems.append(f"generate({prompt!r}) holds NaN or infinity")
        elif float(np.max(np.abs(array))) > 1.0 + 1e-6:
            report.problems.append(
                f"generate({prompt!r}) exceeds [-1, 1] (peak {float(np.max(np.abs(array))):.3f}): scale it"
            )
        elif math.isclose(float(np.max(np.abs(array))), 0.0):
            report.notes.append(f"generate({prompt!r}) is silent: generation metrics will reject it")
