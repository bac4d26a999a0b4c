"""A custom model for pytest-audiollm, registered from a ``conftest.py``.

``EnergyClassifier`` is a tiny "audio model" built from textbook DSP features (frame RMS energy,
zero-crossing rate, spectral flatness and spectral centroid) computed with numpy. It answers
classification prompts by picking one of ``request.choices``: it never looks at the label or the file
name, only at the samples it is given, so its score says something real about the features.

Run it on the bundled demo benchmark (tone / chirp / noise / pulses) from the repository root::

    pytest examples/custom_model --audiollm-model energy --audiollm-benchmark demo-classification

The hook at the bottom of this file is all the plugin needs: pytest loads this conftest because it sits
in the directory being run, and pytest-audiollm calls ``pytest_audiollm_register_models`` with its model
registry (the hook is "historic", so a conftest found late in start-up still receives the call).
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

ENVELOPE_S = 0.005  # 5 ms frames for the energy envelope
FRAME_S = 0.020  # 20 ms frames for spectra ...
HOP_S = 0.010  # ... every 10 ms

# What the features can tell apart, and the words a benchmark's choices may use for each kind of sound.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "steady": ("tone", "beep", "sine", "whistle", "hum", "steady"),
    "sweep": ("chirp", "sweep", "glide", "siren", "rising", "falling"),
    "noisy": ("noise", "hiss", "static", "rumble"),
    "bursty": ("pulses", "pulse", "click", "tick", "burst", "beat", "knock"),
}


def frame(x: npt.NDArray[np.float64], size: int, hop: int) -> npt.NDArray[np.float64]:
    """Cut ``x`` into overlapping frames, one per row (the last partial frame is dropped)."""
    if len(x) < size:
        x = np.pad(x, (0, size - len(x)))
    count = 1 + (len(x) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    framed: npt.NDArray[np.float64] = x[index]
    return framed


def features(
    audio: npt.NDArray[np.floating], sample_rate: int, window: npt.NDArray[np.float64] | None = None
) -> dict[str, float]:
    """Per-clip features, each a summary of per-frame measurements over the clip's active span.

    * ``modulation``: std / mean of the RMS energy in short (5 ms) frames. Pulse trains switch on and off,
      so their energy varies a lot from frame to frame; tones, sweeps and noise are steady.
    * ``flatness``: median spectral flatness (geometric / arithmetic mean of the power spectrum) of 20 ms
      frames, over the frequency bins that hold any energy. Near 1 for white noise, near 0 for a sinusoid.
    * ``zcr_jitter``: median frame-to-frame change of the zero-crossing rate, relative to its level. The
      ZCR of a sinusoid is twice its frequency, the same in every frame; for noise it jumps around.
    * ``drift_octaves``: how far the spectral centroid of tonal frames moves over the clip, in octaves
      (from a straight-line fit of log2(centroid) against time). A sweep moves, a tone does not.
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    quiet = {"modulation": 0.0, "flatness": 0.0, "zcr_jitter": 0.0, "drift_octaves": 0.0}
    if x.size == 0 or np.max(np.abs(x)) < 1e-4:  # silence: nothing to measure
        return quiet
    x = x - x.mean()

    # energy envelope in 5 ms frames, restricted to the span from the first to the last active frame
    short = max(8, round(ENVELOPE_S * sample_rate))
    energy = np.sqrt(np.mean(frame(x, short, short) ** 2, axis=1))
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-30 / 20))  # within 30 dB of the loudest frame
    span = energy[loud[0] : loud[-1] + 1]
    modulation = float(span.std() / span.mean())

    # spectra of 20 ms frames over the same span
    size, hop = max(16, round(FRAME_S * sample_rate)), max(8, round(HOP_S * sample_rate))
    start, stop = loud[0] * short, (loud[-1] + 1) * short
    frames = frame(x[start:stop], size, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    frames = frames[rms > rms.max() * 10 ** (-30 / 20)]
    if window is None or len(window) != size:
        window = np.hanning(size)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mean_power = power.mean(axis=0)
    band = mean_power > mean_power.max() * 1e-6  # bins within 60 dB of the strongest (skips empty bands)
    power = power[:, band] + 1e-12
    flatness = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)[band]
    centroid = (power @ freqs) / power.sum(axis=1)

    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1) * sample_rate  # crossings per second
    zcr_jitter = float(np.median(np.abs(np.diff(zcr))) / max(np.median(zcr), 1.0)) if len(zcr) > 1 else 0.0

    drift = 0.0
    tonal = flatness < 0.1
    if tonal.sum() >= 4:
        t = np.flatnonzero(tonal) * hop / sample_rate
        slope = np.polyfit(t, np.log2(np.maximum(centroid[tonal], 1.0)), 1)[0]
        drift = float(abs(slope) * (t[-1] - t[0]))
    return {
        "modulation": modulation,
        "flatness": float(np.median(flatness)),
        "zcr_jitter": zcr_jitter,
        "drift_octaves": drift,
    }


def describe(feats: dict[str, float]) -> str:
    """A few hand-set thresholds turn the features into one of the KEYWORDS kinds."""
    if feats["modulation"] > 0.9:
        return "bursty"
    if feats["flatness"] > 0.1 or feats["zcr_jitter"] > 0.15:
        return "noisy"
    if feats["drift_octaves"] > 0.15:
        return "sweep"
    return "steady"


class EnergyClassifier(AudioModel):
    """Classifies sounds from energy, zero-crossing and spectral features; a reference for the model API.

    A model is built by its factory with the run's :class:`~pytest_audiollm.ModelOptions` (here the class
    itself is the factory). The plugin then calls, in order: ``memory_estimate()`` (before loading, to
    check ``--audiollm-memory-budget``), ``load(device)``, ``warmup()``, ``predict(batch)`` as many times
    as needed, and ``unload()`` once this model's last item has run. ``fingerprint()`` goes into the
    results file and caches. ``warmup()`` is inherited: one ``predict()`` on half a second of silence
    (override it when a first call is slow, for example to compile kernels).
    """

    sample_rate = 16000  # the plugin decodes and resamples every clip to this rate before predict()
    cpu_only = True  # numpy only: no need to look for an accelerator

    def __init__(self, options: ModelOptions | None = None) -> None:
        """Keep the options (name, device, batch size, seed, ``--audiollm-model-arg`` values in ``extra``).

        Do no heavy work here: a model that does not fit the memory budget is constructed but never loaded.
        """
        super().__init__(options)
        self.window: npt.NDArray[np.float64] | None = None

    def memory_estimate(self) -> int | None:
        """Bytes the loaded model will need on its device, known *before* ``load``.

        A real model would sum its parameter sizes from a config file. Returning ``None`` means "unknown"
        (the budget check is then skipped). Ours holds one small analysis window.
        """
        return 64 * 1024

    def load(self, device: str) -> None:
        """Allocate the weights on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``mps``).

        Called once per session, just before the model's first item. Our "weights" are an analysis window.
        """
        self.window = np.hanning(round(FRAME_S * self.sample_rate))

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        """Answer a batch: one string per request, in the same order (the only required method).

        Each :class:`~pytest_audiollm.Request` has ``audio`` (mono float32 at ``self.sample_rate``),
        ``sample_rate``, the rendered ``prompt``, the benchmark's ``task`` and ``choices``, and the
        ``sample`` itself. The answer is scored against the sample's references by the benchmark's
        metrics, so for a classification benchmark it should be one of the choices.
        """
        if self.window is None:
            raise RuntimeError("EnergyClassifier.predict() called before load()")
        return [self.answer(r) for r in requests]

    def answer(self, request: Request) -> str:
        """Pick the choice whose name matches the kind of sound the features describe."""
        kind = describe(features(request.audio, request.sample_rate, self.window))
        choices = request.choices or tuple(KEYWORDS)
        for choice in choices:
            if any(word in choice.lower() for word in KEYWORDS[kind]):
                return choice
        return choices[0]  # no choice names this kind: answer something valid anyway

    def unload(self) -> None:
        """Free what ``load`` allocated: device memory must go back to where it was before ``load``."""
        self.window = None

    def fingerprint(self) -> str:
        """What exactly is evaluated: a real model returns a weights digest or a revision; ours, a version."""
        return "energy-classifier-v1"


@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry: ModelRegistry) -> None:
    """Make ``--audiollm-model energy`` build an EnergyClassifier (the class is its own factory)."""
    registry.add("energy", EnergyClassifier)
