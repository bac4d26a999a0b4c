"""Stand-in for the NatureLM-audio package (see tests/standins/README.md): same call surface, no model."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


def record(event: str, **fields: Any) -> None:
    """Append one call to $AUDIOLLM_STANDIN_LOG (a JSON line)."""
    path = os.environ.get("AUDIOLLM_STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, **fields}) + "\n")


def label(wave: np.ndarray, rate: int = 16000) -> str:
    """The 'species' of a wave: its dominant frequency below 1 kHz is a frog, above it a bunting."""
    if float(np.abs(wave).max(initial=0.0)) < 1e-4:
        return "None"
    freq = float(np.argmax(np.abs(np.fft.rfft(wave)))) * rate / len(wave)
    return "Green Treefrog" if freq < 1000 else "Lazuli Bunting"
