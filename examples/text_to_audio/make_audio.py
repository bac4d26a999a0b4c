"""Writes the reference clips and the prompt manifest of this example (run once; the files are committed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).parent
RATE = 16000
FREQS = (220, 330, 440, 550, 660, 880)

with (HERE / "prompts.jsonl").open("w") as manifest:
    for i, freq in enumerate(FREQS):
        t = np.arange(int(1.5 * RATE)) / RATE
        # the reference decays more slowly than the synth renders it: the paired metrics see the difference
        wave = 0.5 * np.exp(-1.0 * t) * np.sin(2 * np.pi * freq * t)
        sf.write(HERE / "reference" / f"tone{i}.flac", wave.astype(np.float32), RATE)
        record = {"id": f"tone{i}", "audio": f"reference/tone{i}.flac", "prompt": f"a tone at {freq} hertz"}
        manifest.write(json.dumps(record) + "\n")
