"""Write this example's audio clips and manifest, deterministically (re-running gives identical files).

Run it from anywhere (it writes next to itself)::

    python examples/custom_benchmark/make_audio.py

Eight 0.5 s whistles, 16 kHz mono FLAC (PCM_16): four low (600-900 Hz) and four high (1.8-2.8 kHz). Each
has a little vibrato, a soft attack and release, and some breath noise; one low whistle has a strong
second harmonic and one high whistle is quiet, so a model has to find the pitch, not just the loudest
or brightest part. ``whistles.jsonl`` lists them with their labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

HERE = Path(__file__).resolve().parent
RATE = 16000
SECONDS = 0.5
SEED = 20240611

# id, label, base frequency (Hz), vibrato depth (Hz), amplitude, second-harmonic level, noise level (dB)
CLIPS = [
    ("whistle_01", "low", 620.0, 8.0, 0.5, 0.0, -40.0),
    ("whistle_02", "high", 2100.0, 25.0, 0.5, 0.0, -40.0),
    ("whistle_03", "low", 750.0, 12.0, 0.4, 0.8, -36.0),
    ("whistle_04", "high", 2750.0, 30.0, 0.4, 0.0, -36.0),
    ("whistle_05", "low", 880.0, 15.0, 0.6, 0.0, -32.0),
    ("whistle_06", "high", 1850.0, 20.0, 0.08, 0.0, -45.0),
    ("whistle_07", "low", 690.0, 5.0, 0.5, 0.2, -30.0),
    ("whistle_08", "high", 2400.0, 35.0, 0.5, 0.3, -30.0),
]


def whistle(
    rng: np.random.Generator, freq: float, vibrato: float, amp: float, harmonic: float, noise_db: float
) -> npt.NDArray[np.float64]:
    t = np.arange(round(SECONDS * RATE)) / RATE
    inst = freq + vibrato * np.sin(2 * np.pi * 5.5 * t)  # 5.5 Hz vibrato
    phase = 2 * np.pi * np.cumsum(inst) / RATE
    wave = np.sin(phase) + harmonic * np.sin(2 * phase)
    wave *= amp / np.max(np.abs(wave))
    ramp = round(0.03 * RATE)  # 30 ms attack and release
    envelope = np.ones_like(t)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    breath = rng.standard_normal(len(t)) * 10 ** (noise_db / 20)
    clipped: npt.NDArray[np.float64] = np.clip(wave * envelope + breath, -1.0, 1.0)
    return clipped


def main() -> None:
    (HERE / "audio").mkdir(exist_ok=True)
    lines = []
    for index, (clip_id, label, freq, vibrato, amp, harmonic, noise_db) in enumerate(CLIPS):
        rng = np.random.default_rng(SEED + index)  # one generator per clip: clips do not depend on each other
        audio = whistle(rng, freq, vibrato, amp, harmonic, noise_db)
        sf.write(HERE / "audio" / f"{clip_id}.flac", audio, RATE, subtype="PCM_16", format="FLAC")
        lines.append(json.dumps({"id": clip_id, "audio": f"audio/{clip_id}.flac", "label": label}))
    (HERE / "whistles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
