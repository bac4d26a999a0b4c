"""Generate the bundled demo benchmarks' audio and manifests, deterministically.

Run from the repository root (re-running writes byte-identical files)::

    .venv/bin/python scripts/make_demo_audio.py

Writes into ``pytest_audiollm/benchmarks/demo/``:

* ``audio/*.flac``: ~1 s clips, FLAC PCM_16, mostly 16 kHz mono; some at 8000/22050/44100 Hz and some
  stereo, so the plugin's resampling and mixdown get exercised;
* ``classification.jsonl``: 24 clips of 4 classes (tone, chirp, noise, pulses), a few of them hard;
* ``captioning.jsonl``: 16 clips with 2-3 reference captions each;
* ``asr.jsonl``: 16 DTMF key sequences with the digits as words, a few noisy or very fast.

Every clip uses its own ``numpy.random.default_rng`` seeded from a fixed number, so adding a clip does not
change the others. The YAML specs next to the manifests are written by hand, not by this script.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

Array = npt.NDArray[np.float64]
Rng = np.random.Generator

OUT_DIR = Path(__file__).resolve().parent.parent / "pytest_audiollm" / "benchmarks" / "demo"
BASE_SEED = 20240611

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0)
DTMF_KEYS = {
    "1": (0, 0), "2": (0, 1), "3": (0, 2),
    "4": (1, 0), "5": (1, 1), "6": (1, 2),
    "7": (2, 0), "8": (2, 1), "9": (2, 2),
    "0": (3, 1),
}  # fmt: skip
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# -------------------------------------------------------------------------------------------- primitives


def _t(dur: float, sr: int) -> Array:
    return np.arange(round(dur * sr), dtype=np.float64) / sr


def tone(freq: float, dur: float, sr: int, amp: float, harmonics: int = 1) -> Array:
    t = _t(dur, sr)
    out = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        if k * freq < sr / 2:
            out += np.sin(2 * np.pi * k * freq * t) / k
    scaled: Array = amp * out / np.max(np.abs(out))
    return scaled


def chirp(f0: float, f1: float, dur: float, sr: int, amp: float, log: bool = False) -> Array:
    t = _t(dur, sr)
    if log:
        k = math.log(f1 / f0) / dur
        phase = 2 * np.pi * f0 * (np.exp(k * t) - 1.0) / k
    else:
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur))
    return amp * np.sin(phase)


def shaped_noise(n: int, sr: int, rng: Rng, lo: float = 0.0, hi: float | None = None, tilt: float = 0.0) -> Array:
    """Gaussian noise band-limited to [lo, hi] Hz with a spectral tilt (power ~ f**tilt), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.where((freqs >= lo) & (freqs <= (hi if hi is not None else sr / 2)), 1.0, 0.0)
    if tilt:
        gain = gain * np.power(np.maximum(freqs, 20.0), tilt / 2.0)
    out: Array = np.fft.irfft(spec * gain, n)
    return out / float(np.sqrt(np.mean(out**2)))


def noise(dur: float, sr: int, rng: Rng, rms: float, **kw: Any) -> Array:
    return rms * shaped_noise(round(dur * sr), sr, rng, **kw)


def clicks(rate: float, dur: float, sr: int, amp: float, rng: Rng, click_ms: float = 2.0) -> Array:
    """A click train: short decaying noise bursts at ``rate`` per second."""
    n = round(dur * sr)
    out = np.zeros(n)
    m = max(2, round(click_ms * sr / 1000))
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
    burst /= np.max(np.abs(burst))
    start = 0.5 / rate
    k = 0
    while True:
        pos = round((start + k / rate) * sr)
        if pos + m > n:
            break
        out[pos : pos + m] += amp * burst
        k += 1
    return out


def bursts(signal: Array, rate: float, on: float, sr: int) -> Array:
    """Gate ``signal`` on for ``on`` seconds at ``rate`` per second (periodic beeps/bursts)."""
    t = _t(len(signal) / sr, sr)[: len(signal)]
    phase = np.mod(t * rate, 1.0)
    gate = (phase < on * rate).astype(np.float64)
    return signal * _smooth(gate, round(0.002 * sr))


def _smooth(x: Array, width: int) -> Array:
    if width < 2:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    return np.convolve(x, kernel / kernel.sum(), mode="same")


def fade(x: Array, sr: int, ms: float = 8.0) -> Array:
    m = min(len(x) // 2, round(ms * sr / 1000))
    if m < 2:
        return x
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, m))
    y = x.copy()
    y[:m] *= ramp
    y[-m:] *= ramp[::-1]
    return y


def place(x: Array, total: float, sr: int, offset: float) -> Array:
    out = np.zeros(round(total * sr))
    start = round(offset * sr)
    out[start : start + len(x)] = x[: len(out) - start]
    return out


def add_noise(x: Array, snr_db: float, rng: Rng, sr: int, **kw: Any) -> Array:
    active = x[np.abs(x) > 1e-6]
    sig_rms = float(np.sqrt(np.mean(active**2))) if active.size else 0.0
    rms = sig_rms / (10 ** (snr_db / 20))
    return x + rms * shaped_noise(len(x), sr, rng, **kw)


def stereo(x: Array, right_gain: float = 0.8) -> Array:
    """The same signal on both channels, the right one quieter (no delay: a mixdown must not comb-filter)."""
    return np.stack([x, right_gain * x], axis=1)


def dtmf(keys: str, sr: int, rng: Rng, on_ms: tuple[float, float], off_ms: tuple[float, float],
         amp: float = 0.35, lead: float = 0.08, tail: float = 0.08) -> Array:  # fmt: skip
    parts = [np.zeros(round(lead * sr))]
    for i, key in enumerate(keys):
        row, col = DTMF_KEYS[key]
        on = rng.uniform(*on_ms) / 1000
        t = _t(on, sr)
        ph_r, ph_c = rng.uniform(0.0, 2 * np.pi, 2)
        sig = amp * (
            np.sin(2 * np.pi * DTMF_ROWS[row] * t + ph_r) + 1.12 * np.sin(2 * np.pi * DTMF_COLS[col] * t + ph_c)
        )
        parts.append(fade(sig, sr, 3.0))
        if i < len(keys) - 1:
            parts.append(np.zeros(round(rng.uniform(*off_ms) / 1000 * sr)))
    parts.append(np.zeros(round(tail * sr)))
    return np.concatenate(parts)


# ------------------------------------------------------------------------------------------------ writing

Maker = Callable[[Rng], tuple[Array, int]]


def write_clip(name: str, make: Maker, seed: int) -> str:
    rng = np.random.default_rng([BASE_SEED, seed])
    data, sr = make(rng)
    peak = float(np.max(np.abs(data)))
    if peak > 0.98:
        data = data * (0.98 / peak)
    rel = f"audio/{name}.flac"
    sf.write(str(OUT_DIR / rel), data.astype(np.float32), sr, subtype="PCM_16", format="FLAC")
    return rel


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------ classification

S16, S8, S22, S44 = 16000, 8000, 22050, 44100

CLASSIFICATION: list[tuple[str, str, Maker]] = [
    # tone: steady sines, a harmonic tone, a short one, a low-SNR one
    ("tone_001", "tone", lambda r: (fade(tone(440, 1.0, S16, 0.5), S16), S16)),
    ("tone_002", "tone", lambda r: (fade(tone(1200, 1.0, S8, 0.3), S8), S8)),
    (
        "tone_003",
        "tone",
        lambda r: (stereo(add_noise(fade(tone(3000, 1.0, S44, 0.4), S44), 20, r, S44)), S44),
    ),
    ("tone_004", "tone", lambda r: (fade(tone(250, 1.0, S16, 0.6, harmonics=7), S16), S16)),
    ("tone_005", "tone", lambda r: (add_noise(fade(tone(800, 1.0, S16, 0.2), S16), -19, r, S16), S16)),
    ("tone_006", "tone", lambda r: (place(fade(tone(660, 0.25, S16, 0.5), S16), 1.0, S16, 0.4), S16)),
    # chirp: up/down, linear/exponential, a slow one, a noisy one, a short one
    ("chirp_001", "chirp", lambda r: (fade(chirp(300, 3000, 1.0, S16, 0.5), S16), S16)),
    ("chirp_002", "chirp", lambda r: (fade(chirp(4000, 500, 1.0, S16, 0.4), S16), S16)),
    ("chirp_003", "chirp", lambda r: (stereo(fade(chirp(200, 6000, 1.0, S22, 0.5, log=True), S22)), S22)),
    ("chirp_004", "chirp", lambda r: (fade(chirp(1000, 1060, 1.0, S16, 0.5), S16), S16)),
    ("chirp_005", "chirp", lambda r: (add_noise(fade(chirp(600, 2400, 1.0, S16, 0.3), S16), 0, r, S16), S16)),
    ("chirp_006", "chirp", lambda r: (place(fade(chirp(2500, 800, 0.3, S16, 0.5), S16), 1.0, S16, 0.3), S16)),
    # noise: white, pink, band-limited, a narrow band (nearly tonal), a slowly swelling one, a quiet one
    ("noise_001", "noise", lambda r: (fade(noise(1.0, S16, r, 0.2), S16), S16)),
    ("noise_002", "noise", lambda r: (fade(noise(1.0, S16, r, 0.2, tilt=-1.0), S16), S16)),
    ("noise_003", "noise", lambda r: (fade(noise(1.0, S16, r, 0.15, lo=1000, hi=3000), S16), S16)),
    ("noise_004", "noise", lambda r: (fade(noise(1.0, S16, r, 0.2, lo=985, hi=1015), S16), S16)),
    ("noise_005", "noise", lambda r: (fade(noise(1.0, S16, r, 0.2) * np.hanning(S16), S16), S16)),
    ("noise_006", "noise", lambda r: (fade(noise(1.0, S8, r, 0.03), S8), S8)),
    # pulses: click trains, tone bursts, noise bursts, a fast buzz-like train, clicks in noise
    ("pulses_001", "pulses", lambda r: (clicks(4, 1.0, S16, 0.8, r), S16)),
    ("pulses_002", "pulses", lambda r: (stereo(clicks(10, 1.0, S44, 0.7, r)), S44)),
    ("pulses_003", "pulses", lambda r: (bursts(tone(1000, 1.0, S16, 0.5), 5, 0.05, S16), S16)),
    ("pulses_004", "pulses", lambda r: (bursts(noise(1.0, S16, r, 0.25), 8, 0.03, S16), S16)),
    ("pulses_005", "pulses", lambda r: (clicks(70, 1.0, S16, 0.6, r), S16)),
    ("pulses_006", "pulses", lambda r: (add_noise(clicks(6, 1.0, S16, 0.8, r), -3, r, S16), S16)),
]

# ---------------------------------------------------------------------------------------------- captioning

CAPTIONING: list[tuple[str, list[str], Maker]] = [
    (
        "cap_001",
        [
            "a loud high pitched tone that stays steady",
            "a high beep that does not change",
            "a strong constant whistle at a high pitch",
        ],
        lambda r: (fade(tone(2000, 1.0, S16, 0.6), S16), S16),
    ),
    (
        "cap_002",
        ["a quiet low pitched steady tone", "a soft low hum that stays the same"],
        lambda r: (fade(tone(300, 1.0, S16, 0.03), S16), S16),
    ),
    (
        "cap_003",
        ["a quiet high pitched tone", "a faint high beep", "a soft steady high whistle"],
        lambda r: (stereo(fade(tone(1800, 1.0, S44, 0.03), S44)), S44),
    ),
    (
        "cap_004",
        ["a short loud low pitched tone", "a brief loud low beep"],
        lambda r: (place(fade(tone(200, 0.35, S16, 0.6), S16), 1.0, S16, 0.3), S16),
    ),
    (
        "cap_005",
        ["a loud sweep rising from low to high", "a loud rising tone", "a tone that goes up in pitch"],
        lambda r: (fade(chirp(300, 4000, 1.0, S16, 0.5), S16), S16),
    ),
    (
        "cap_006",
        [
            "a quiet tone sweeping down from high to low pitch",
            "a soft falling tone",
            "a quiet tone that goes down in pitch",
        ],
        lambda r: (fade(chirp(5000, 400, 1.0, S16, 0.03), S16), S16),
    ),
    (
        "cap_007",
        ["a quiet rising sweep", "a soft tone that rises in pitch"],
        lambda r: (stereo(fade(chirp(500, 3000, 1.0, S22, 0.04, log=True), S22)), S22),
    ),
    (
        "cap_008",
        [
            "a loud sweep falling from high to low pitch",
            "a loud falling tone",
            "a loud tone that drops in pitch",
        ],
        lambda r: (fade(chirp(3500, 300, 1.0, S8, 0.5), S8), S8),
    ),
    (
        "cap_009",
        ["a loud hissing noise like static", "loud white noise", "a loud hiss"],
        lambda r: (fade(noise(1.0, S16, r, 0.25), S16), S16),
    ),
    (
        "cap_010",
        ["a quiet rumbling noise", "a soft low rumble"],
        lambda r: (fade(noise(1.0, S16, r, 0.03, hi=400), S16), S16),
    ),
    (
        "cap_011",
        ["a quiet hissing noise", "faint static", "a soft hiss"],
        lambda r: (fade(noise(1.0, S8, r, 0.02), S8), S8),
    ),
    (
        "cap_012",
        ["a loud rumbling noise", "a loud low rumble like wind"],
        lambda r: (stereo(fade(noise(1.0, S16, r, 0.25, tilt=-2.0), S16)), S16),
    ),
    (
        "cap_013",
        [
            "loud slow clicks like a clock ticking",
            "loud clicks a few times a second",
            "a slow train of loud clicks",
        ],
        lambda r: (clicks(3, 1.0, S16, 0.9, r), S16),
    ),
    (
        "cap_014",
        ["a quiet train of rapid clicks", "fast soft ticking", "quiet rapid clicking"],
        lambda r: (clicks(20, 1.0, S16, 0.08, r), S16),
    ),
    (
        "cap_015",
        ["a loud medium pitched tone", "a steady beep in the middle of the range"],
        lambda r: (fade(tone(900, 1.0, S16, 0.4), S16), S16),
    ),
    (
        "cap_016",
        ["a faint beep buried in hiss", "a quiet tone behind loud noise"],
        lambda r: (add_noise(fade(tone(1500, 1.0, S16, 0.05), S16), -12, r, S16), S16),
    ),
]

# --------------------------------------------------------------------------------------------------- asr


def dtmf_clipped_end(rng: Rng) -> Array:
    """Keys 5, 6, 7 pressed normally, then 8, 4 as 5-8 ms blips, too short for any DTMF receiver to accept."""
    head = dtmf("567", S16, rng, (80, 100), (60, 80), tail=0.0)
    return np.concatenate([head, dtmf("84", S16, rng, (5, 8), (60, 80), lead=0.07)])


ASR: list[tuple[str, str, Maker]] = [
    ("dtmf_001", "4159", lambda r: (dtmf("4159", S8, r, (90, 110), (60, 90)), S8)),
    ("dtmf_002", "270", lambda r: (dtmf("270", S8, r, (90, 120), (70, 100)), S8)),
    ("dtmf_003", "86321", lambda r: (dtmf("86321", S16, r, (80, 100), (60, 80)), S16)),
    ("dtmf_004", "5550", lambda r: (dtmf("5550", S16, r, (90, 110), (60, 80)), S16)),
    ("dtmf_005", "731", lambda r: (dtmf("731", S8, r, (100, 120), (80, 100), amp=0.1), S8)),
    ("dtmf_006", "902468", lambda r: (dtmf("902468", S8, r, (80, 90), (50, 60)), S8)),
    ("dtmf_007", "1987", lambda r: (stereo(dtmf("1987", S44, r, (90, 110), (60, 90))), S44)),
    ("dtmf_008", "3306", lambda r: (add_noise(dtmf("3306", S8, r, (90, 110), (60, 90)), 10, r, S8), S8)),
    ("dtmf_009", "6425", lambda r: (add_noise(dtmf("6425", S16, r, (90, 110), (60, 90)), 3, r, S16), S16)),
    ("dtmf_010", "818", lambda r: (dtmf("818", S16, r, (100, 120), (70, 90)), S16)),
    ("dtmf_011", "77442", lambda r: (dtmf("77442", S8, r, (85, 100), (55, 70)), S8)),
    ("dtmf_012", "0913", lambda r: (add_noise(dtmf("0913", S8, r, (90, 110), (60, 90)), -8, r, S8), S8)),
    ("dtmf_013", "112299", lambda r: (dtmf("112299", S16, r, (30, 40), (4, 7)), S16)),
    ("dtmf_014", "56784", lambda r: (add_noise(dtmf_clipped_end(r), 10, r, S16), S16)),
    ("dtmf_015", "2024", lambda r: (stereo(dtmf("2024", S22, r, (90, 110), (60, 90))), S22)),
    ("dtmf_016", "638", lambda r: (dtmf("638", S16, r, (80, 100), (50, 70)), S16)),
]


def main() -> None:
    audio_dir = OUT_DIR / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for old in audio_dir.glob("*.flac"):
        old.unlink()

    rows: list[dict[str, Any]] = []
    for seed, (name, label, make) in enumerate(CLASSIFICATION, start=1):
        rows.append({"id": name, "audio": write_clip(name, make, seed), "label": label})
    write_jsonl(OUT_DIR / "classification.jsonl", rows)

    rows = []
    for seed, (name, captions, make) in enumerate(CAPTIONING, start=1001):
        rows.append({"id": name, "audio": write_clip(name, make, seed), "captions": captions})
    write_jsonl(OUT_DIR / "captioning.jsonl", rows)

    rows = []
    for seed, (name, keys, make) in enumerate(ASR, start=2001):
        text = " ".join(DIGIT_WORDS[int(k)] for k in keys)
        rows.append({"id": name, "audio": write_clip(name, make, seed), "text": text})
    write_jsonl(OUT_DIR / "asr.jsonl", rows)

    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())
    count = len(CLASSIFICATION) + len(CAPTIONING) + len(ASR)
    print(f"wrote {count} clips to {OUT_DIR} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
