"""A small model for the whistles benchmark next to this file, registered as ``whistle-pitch``.

Run from the repository root::

    pytest examples/custom_benchmark --audiollm-model whistle-pitch

``WhistlePitch`` estimates each clip's pitch by autocorrelation and answers "low" or "high" around a split
frequency (1250 Hz by default; ``--audiollm-model-arg split_hz=1500`` changes it: model arguments reach
the model in ``self.options.extra``). This example is self-contained: it shares no code with the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

import pytest_audiollm
from pytest_audiollm import AudioModel, ModelOptions, Request

if TYPE_CHECKING:
    from pytest_audiollm import ModelRegistry

MIN_HZ, MAX_HZ = 200.0, 4000.0  # the pitch range searched


def pitch_hz(audio: npt.NDArray[np.floating], sample_rate: int) -> float:
    """Fundamental frequency by autocorrelation: the shortest lag whose correlation is near the best one.

    Taking the *shortest* strong lag (not the strongest) avoids octave errors: a periodic signal also
    correlates with itself two and three periods later. A strong second harmonic does not fool it
    either, since the autocorrelation peaks at the period of the whole waveform. Returns 0.0 for silence.
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    x = x - x.mean() if x.size else x
    if x.size < 4 or np.max(np.abs(x)) < 1e-4:
        return 0.0
    n = 1 << int(np.ceil(np.log2(2 * len(x))))  # zero-padded FFT: linear, not circular, correlation
    spectrum = np.fft.rfft(x, n)
    corr = np.fft.irfft(np.abs(spectrum) ** 2, n)[: len(x)]
    corr /= corr[0]
    lo, hi = int(sample_rate / MAX_HZ), min(int(sample_rate / MIN_HZ), len(corr) - 2)
    lags = np.arange(lo, hi + 1)
    window = corr[lags]
    peaks = lags[(window > corr[lags - 1]) & (window >= corr[lags + 1])]
    if peaks.size == 0:
        return 0.0
    best = corr[peaks].max()
    lag = int(peaks[corr[peaks] >= 0.9 * best][0])
    # parabolic interpolation around the peak for a sub-sample lag
    a, b, c = corr[lag - 1], corr[lag], corr[lag + 1]
    offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float(sample_rate / (lag + offset))


class WhistlePitch(AudioModel):
    """Answers "low" or "high" from the pitch of the clip (numpy only, no weights)."""

    sample_rate = 16000
    cpu_only = True

    def __init__(self, options: ModelOptions | None = None) -> None:
        super().__init__(options)
        self.split_hz = float(self.options.extra.get("split_hz", 1250.0))

    def memory_estimate(self) -> int | None:
        return 0  # nothing is loaded

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        answers = []
        for request in requests:
            low, high = ("low", "high") if not request.choices else (request.choices[0], request.choices[-1])
            answers.append(high if pitch_hz(request.audio, request.sample_rate) >= self.split_hz else low)
        return answers

    def fingerprint(self) -> str:
        return f"whistle-pitch-v1 split_hz={self.split_hz:g}"


@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry: ModelRegistry) -> None:
    registry.add("whistle-pitch", WhistlePitch)
