"""The ``demo`` model: a small deterministic DSP "audio model" for the bundled demo benchmarks, on CPU."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

FloatArray = npt.NDArray[np.float64]

CLASSES = ("tone", "chirp", "noise", "pulses")
# words that name (or describe) each known class, for benchmarks whose choices use other labels
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "tone": ("tone", "beep", "sine", "whistle", "hum", "pure", "steady"),
    "chirp": ("chirp", "sweep", "glide", "siren", "rising", "falling"),
    "noise": ("noise", "hiss", "static", "rumble", "white", "pink"),
    "pulses": ("pulse", "click", "tick", "burst", "beat", "knock"),
}

DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYPAD = (("1", "2", "3", "A"), ("4", "5", "6", "B"), ("7", "8", "9", "C"), ("*", "0", "#", "D"))
KEY_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
    "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
    "*": "star", "#": "pound", "A": "a", "B": "b", "C": "c", "D": "d",
}  # fmt: skip

_SILENCE_PEAK = 1e-4  # below this peak amplitude a clip counts as silence
_ACTIVE_DB = 30.0  # frames within this many dB of the loudest frame are "active"
_TONAL_PROMINENCE_DB = 15.0  # spectral peak over its local median: a tonal frame
_SWEEP_OCTAVES = 0.15  # a pitch glide larger than this (about two semitones) makes a chirp
_LOUD_DBFS = -20.0  # peak 5 ms RMS level above which a sound is "loud"


@dataclass(frozen=True)
class Features:
    """What the demo model measures on a clip (all derived from the samples alone)."""

    silent: bool = True
    level_dbfs: float = -120.0  # peak RMS over 5 ms frames
    active_seconds: float = 0.0  # span from the first to the last active frame
    flatness: float = 1.0  # median spectral flatness of active frames (1: white, 0: a pure tone)
    centroid_hz: float = 0.0  # spectral centroid of the active frames' mean spectrum
    tonal_fraction: float = 0.0  # share of active frames whose spectral peak stands out locally
    peak_hz: float = 0.0  # median frequency of the tonal frames' spectral peak
    sweep_octaves: float = 0.0  # signed pitch change over the tonal span (from a linear fit of log2 f)
    periodicity: float = 0.0  # height of the envelope autocorrelation peak (0..1)
    modulation: float = 0.0  # envelope std / mean (crest-like: how bursty the sound is)
    pulse_rate_hz: float = 0.0  # repetition rate at the autocorrelation peak


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _frames(x: FloatArray, size: int, hop: int) -> FloatArray:
    if len(x) < size:
        x = np.concatenate([x, np.zeros(size - len(x))])
    count = 1 + (len(x) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    framed: FloatArray = x[index]
    return framed


def measure(audio: npt.NDArray[np.floating], sample_rate: int) -> Features:
    """Measure the demo model's features on one mono clip."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size == 0 or float(np.max(np.abs(x))) < _SILENCE_PEAK:
        return Features()
    x = x - float(np.mean(x))
    sr = float(sample_rate)

    # -- envelope: 5 ms frames, 2.5 ms hop
    env_size, env_hop = max(4, round(0.005 * sr)), max(2, round(0.0025 * sr))
    env = np.mean(_frames(x, env_size, env_hop) ** 2, axis=1)
    level_dbfs = 10.0 * math.log10(float(np.max(env)) + 1e-12)
    periodicity, modulation, rate = _periodicity(env, sr / env_hop)

    # -- short-time spectrum: 32 ms Hann frames, 50 % overlap
    n_fft = 1 << max(6, round(math.log2(0.032 * sr)))
    hop = n_fft // 2
    frames = _frames(x, n_fft, hop)
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft)[None, :], axis=1)) ** 2
    energy = power.sum(axis=1)
    active = energy >= float(np.max(energy)) * 10.0 ** (-_ACTIVE_DB / 10.0)
    idx = np.flatnonzero(active)
    active_seconds = ((idx[-1] - idx[0]) * hop + n_fft) / sr
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    band = (freqs >= 60.0) & (freqs <= min(sr / 2.0 - 100.0, 8000.0))
    spec = power[active][:, band] + 1e-20
    band_freqs = freqs[band]

    flatness = float(np.median(np.exp(np.mean(np.log(spec), axis=1)) / np.mean(spec, axis=1)))
    mean_spec = spec.mean(axis=0)
    centroid = float(np.sum(band_freqs * mean_spec) / np.sum(mean_spec))

    # tonal frames: the strongest bin stands out from its +-8-bin neighbourhood
    peaks = np.argmax(spec, axis=1)
    rows = np.arange(spec.shape[0])
    half = 8
    padded = np.pad(spec, ((0, 0), (half, half)), mode="edge")
    neighbourhood = padded[rows[:, None], peaks[:, None] + np.arange(2 * half + 1)[None, :]]
    prominence = 10.0 * np.log10(spec[rows, peaks] / np.median(neighbourhood, axis=1))
    tonal = prominence >= _TONAL_PROMINENCE_DB
    tonal_fraction = float(np.mean(tonal))

    peak_hz, sweep = 0.0, 0.0
    if np.count_nonzero(tonal) >= 2:
        # parabolic interpolation of the peak on a log-power scale
        p = peaks[tonal]
        log_spec = np.log(spec[tonal])
        r = np.arange(len(p))
        left = log_spec[r, np.maximum(p - 1, 0)]
        mid = log_spec[r, p]
        right = log_spec[r, np.minimum(p + 1, spec.shape[1] - 1)]
        denom = left - 2.0 * mid + right
        offset = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1.0, denom), 0.0)
        step = float(band_freqs[1] - band_freqs[0])
        f = band_freqs[p] + np.clip(offset, -0.5, 0.5) * step
        peak_hz = float(np.median(f))
        t = idx[tonal] * hop / sr
        if float(t[-1] - t[0]) > 0.0:
            slope = float(np.polyfit(t, np.log2(np.maximum(f, 1.0)), 1)[0])
            sweep = slope * float(t[-1] - t[0])

    return Features(
        silent=False,
        level_dbfs=level_dbfs,
        active_seconds=float(active_seconds),
        flatness=flatness,
        centroid_hz=centroid,
        tonal_fraction=tonal_fraction,
        peak_hz=peak_hz,
        sweep_octaves=sweep,
        periodicity=periodicity,
        modulation=modulation,
        pulse_rate_hz=rate,
    )


def _periodicity(env: FloatArray, env_rate: float) -> tuple[float, float, float]:
    """Envelope periodicity: (autocorrelation peak height, modulation depth, repetition rate in Hz)."""
    mean = float(np.mean(env))
    if env.size < 8 or mean <= 0.0:
        return 0.0, 0.0, 0.0
    centred = env - mean
    modulation = float(np.std(env)) / mean
    denom = float(np.dot(centred, centred))
    if denom <= 0.0:
        return 0.0, modulation, 0.0
    lo = max(2, math.floor(env_rate / 100.0))  # up to 100 repetitions per second
    hi = min(env.size // 2, math.ceil(env_rate / 2.0))  # down to 2 per second
    if hi <= lo + 1:
        return 0.0, modulation, 0.0
    full = np.correlate(centred, centred, mode="full")[env.size - 1 :] / denom
    peaks: list[tuple[int, float]] = []  # local maxima that rise well above the dip before them
    for lag in range(lo, hi):
        value = float(full[lag])
        if full[lag - 1] <= value >= full[lag + 1] and value - float(np.min(full[1 : lag + 1])) >= 0.2:
            peaks.append((lag, value))
    if not peaks:
        return 0.0, modulation, 0.0
    best = max(value for _, value in peaks)
    # the period is the first peak nearly as high as the best (later ones are its multiples)
    period = next(lag for lag, value in peaks if value >= 0.8 * best)
    return best, modulation, env_rate / period


def class_scores(feat: Features) -> dict[str, float]:
    """Soft scores (summing to 1) of the four known demo classes."""
    if feat.silent:
        return {"tone": 0.0, "chirp": 0.0, "noise": 1.0, "pulses": 0.0}
    pulses = _sigmoid((feat.periodicity - 0.3) / 0.05) * _sigmoid((feat.modulation - 0.5) / 0.1)
    tonal = _sigmoid((feat.tonal_fraction - 0.5) / 0.08 - max(0.0, feat.flatness - 0.5) / 0.1)
    sweep = _sigmoid((abs(feat.sweep_octaves) - _SWEEP_OCTAVES) / 0.03)
    rest = 1.0 - pulses
    return {
        "tone": rest * tonal * (1.0 - sweep),
        "chirp": rest * tonal * sweep,
        "noise": rest * (1.0 - tonal),
        "pulses": pulses,
    }


def _choice_class(choice: str) -> str | None:
    text = choice.strip().lower()
    if text in CLASSES:
        return text
    for name, words in _SYNONYMS.items():
        if any(word in text for word in words):
            return name
    return None


def choose(scores: dict[str, float], choices: Sequence[str]) -> str:
    """The choice (text exactly as given) whose class scores best; the best class name if none maps."""
    best_choice, best_score = None, -1.0
    for choice in choices:
        name = _choice_class(choice)
        if name is not None and scores[name] > best_score:
            best_choice, best_score = choice, scores[name]
    if best_choice is not None:
        return best_choice
    return max(CLASSES, key=lambda name: scores[name])


def caption(feat: Features) -> str:
    """A one-sentence description built from the measured properties."""
    if feat.silent:
        return "silence"
    scores = class_scores(feat)
    kind = max(CLASSES, key=lambda name: scores[name])
    loud = "loud" if feat.level_dbfs >= _LOUD_DBFS else "quiet"
    short = "short " if feat.active_seconds < 0.5 and kind != "pulses" else ""
    if kind == "tone":
        pitch = "low" if feat.peak_hz < 600.0 else "medium" if feat.peak_hz < 1300.0 else "high"
        return f"a {short}{loud} {pitch} pitched steady tone"
    if kind == "chirp":
        motion = "rising from low to high" if feat.sweep_octaves > 0 else "falling from high to low"
        return f"a {short}{loud} sweep {motion} pitch"
    if kind == "noise":
        colour = "rumbling" if feat.centroid_hz < 1000.0 else "hissing"
        return f"a {short}{loud} {colour} noise"
    speed = "rapid" if feat.pulse_rate_hz >= 8.0 else "slow"
    unit = "beeps" if feat.tonal_fraction >= 0.5 else "clicks"
    return f"a {loud} train of {speed} {unit}"


def _goertzel_power(frames: FloatArray, freqs: Sequence[float], sample_rate: float) -> FloatArray:
    """Goertzel power of each frame (rows) at each frequency (columns), all frames at once."""
    coeff = 2.0 * np.cos(2.0 * np.pi * np.asarray(freqs, dtype=np.float64) / sample_rate)[None, :]
    s1 = np.zeros((frames.shape[0], len(freqs)))
    s2 = np.zeros_like(s1)
    for n in range(frames.shape[1]):
        s0 = frames[:, n : n + 1] + coeff * s1 - s2
        s2 = s1
        s1 = s0
    result: FloatArray = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return result


def decode_dtmf(audio: npt.NDArray[np.floating], sample_rate: int) -> list[str]:
    """DTMF key presses in ``audio``: Goertzel over 25.6 ms frames every 8 ms, then run-length segmenting."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    sr = float(sample_rate)
    size, hop = max(16, round(0.0256 * sr)), max(4, round(0.008 * sr))
    if x.size < size or float(np.max(np.abs(x))) < _SILENCE_PEAK:
        return []
    frames = _frames(x - float(np.mean(x)), size, hop)
    window = np.hanning(size)
    power = _goertzel_power(frames * window[None, :], DTMF_LOW + DTMF_HIGH, sr)
    amp2 = 4.0 * power / float(np.sum(window)) ** 2  # squared amplitude of a sinusoid at each frequency
    frame_power = np.mean(frames**2, axis=1)

    labels: list[str | None] = []
    for i in range(frames.shape[0]):
        low, high = amp2[i, :4], amp2[i, 4:]
        r, c = int(np.argmax(low)), int(np.argmax(high))
        second_low = float(np.partition(low, -2)[-2])
        second_high = float(np.partition(high, -2)[-2])
        tone_power = 0.5 * (low[r] + high[c])
        ok = (
            frame_power[i] > 1e-7
            and tone_power >= 0.4 * frame_power[i]
            and low[r] >= 4.0 * second_low
            and high[c] >= 4.0 * second_high
            and 1.0 / 8.0 <= high[c] / max(low[r], 1e-20) <= 8.0
        )
        labels.append(DTMF_KEYPAD[r][c] if ok else None)

    # runs of one key; a single dropped frame inside a run does not split it; runs of one frame are ignored
    keys: list[str] = []
    current: str | None = None
    length, gap = 0, 0
    for label in [*labels, None, None]:
        if label is not None and label == current:
            length, gap = length + 1, 0
            continue
        if label is None and current is not None and gap == 0:
            gap = 1
            continue
        if current is not None and length >= 2:
            keys.append(current)
        current, length, gap = label, (1 if label is not None else 0), 0
    return keys


class DemoModel(AudioModel):
    """A deterministic signal-processing stand-in for an audio LLM, for the bundled demo benchmarks.

    It listens to the audio only (never ids, file names or metadata) and answers each request on its own,
    so results do not depend on batching:

    * classification: measures spectral flatness, how much the spectral peak stands out, the pitch glide
      (a linear fit of the peak frequency's log over time) and the periodicity of the short-time envelope,
      turns them into soft scores of four known classes (tone, chirp, noise, pulses) and answers with the
      best-scoring choice (choices are matched to classes by name or a synonym);
    * captioning: a sentence built from the same measurements (kind, pitch, loudness, length);
    * asr: decodes DTMF key presses with the Goertzel algorithm and says the keys as words;
    * anything else: the caption.
    """

    sample_rate = 16000
    cpu_only = True

    def memory_estimate(self) -> int:
        return 1 << 20

    def load(self, device: str) -> None:
        """Nothing to load: the model has no weights."""

    def unload(self) -> None:
        """Nothing to free."""

    def fingerprint(self) -> str:
        return "demo-dsp-v1"

    def predict(self, requests: Sequence[Request]) -> list[str]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Request) -> str:
        task = request.task.lower()
        if task == "asr":
            return " ".join(KEY_WORDS[key] for key in decode_dtmf(request.audio, request.sample_rate))
        feat = measure(request.audio, request.sample_rate)
        if task == "classification":
            return choose(class_scores(feat), request.choices)
        return caption(feat)


def demo_factory(options: ModelOptions) -> DemoModel:
    """Factory for the ``demo`` model name."""
    return DemoModel(options)
