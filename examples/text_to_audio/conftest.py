"""A text-to-audio "model" registered with the generators hook: it renders the pitch named in the prompt.

Replace ``ToneSynth`` with your generator: load weights in ``load``, return one waveform per prompt in ``generate``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

import pytest_audiollm


class ToneSynth(pytest_audiollm.AudioGenerator):
    """Renders 'a tone at N hertz' as 1.5 s of a decaying sine (numpy only)."""

    sample_rate = 16000
    cpu_only = True

    def generate(self, prompts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for prompt in prompts:
            match = re.search(r"(\d+)\s*hertz", prompt)
            freq = float(match.group(1)) if match else 440.0
            t = np.arange(int(1.5 * self.sample_rate)) / self.sample_rate
            out.append((0.5 * np.exp(-2 * t) * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        return out


@pytest_audiollm.hookimpl
def pytest_audiollm_register_generators(registry: pytest_audiollm.GeneratorRegistry) -> None:
    registry.add("tone-synth", ToneSynth)
