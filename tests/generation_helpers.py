"""Shared pieces of the generation tests: tones, folders of generated and reference audio, a benchmark writer,
a subprocess run that returns the results, and a generator in a conftest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

RATE = 16000
ALL = ["fad", "fd", "kid", "kad", "isc", "kl", "kl_sigmoid", "psnr", "ssim", "lsd"]


def tone(freq: float, seconds: float = 1.2, seed: int = 0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def folders(root: Path, n: int = 8) -> tuple[Path, Path]:
    gen, ref = root / "generated", root / "reference"
    gen.mkdir()
    ref.mkdir()
    for i in range(n):
        sf.write(ref / f"clip{i:02d}.wav", tone(220 * (1 + i % 4), seed=i), RATE)
        sf.write(gen / f"clip{i:02d}.wav", tone(220 * (1 + i % 4) * 1.03, seed=100 + i, rate=22050), 22050)
    return gen, ref


def bench(root: Path, metrics: list[str], generation: dict[str, Any] | None = None, **extra: Any) -> Path:
    import yaml

    spec: dict[str, Any] = {
        "name": "t2a",
        "task": "generation",
        "data": {"generated": "generated", "reference": "reference"},
        "metrics": metrics,
        "generation": {"kid_subsets": 5, "kid_subset_size": 4, "isc_splits": 2, **(generation or {})},
        **extra,
    }
    path = root / "bench_t2a.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(pytester: pytest.Pytester, env: dict[str, str], *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    for key, value in env.items():
        pytester._monkeypatch.setenv(key, value)
    pytester._monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(pytester.path / "cache"))
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--audiollm-results", str(out), "-rs", *args)
    return result, json.loads(out.read_text()) if out.exists() else {}


def gates_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics of the (only) generation run in a results document."""
    (run,) = [r for r in doc["runs"] if r["task"] == "generation"]
    return dict(run["metrics"])


def rows_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for run in doc["runs"] for row in run["samples"]]


GENERATOR_CONFTEST = '''
import numpy as np
import pytest
from pytest_audiollm import AudioGenerator

class Chirps(AudioGenerator):
    """Sine of a pitch read from the prompt (numbers in it)."""
    sample_rate = 16000
    calls = []
    def generate(self, prompts):
        type(self).calls.append(len(prompts))
        out = []
        for p in prompts:
            if "explode" in p:
                raise RuntimeError("generator exploded")
            freq = float([w for w in p.split() if w.isdigit()][0])
            t = np.arange(19200) / 16000
            out.append((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        return out

@pytest.hookimpl
def pytest_audiollm_register_generators(registry):
    registry.add("chirps", Chirps)
'''
