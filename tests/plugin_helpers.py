"""Helpers for the plugin's acceptance tests: real audio files, a real model in a conftest, run parsing."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

TESTS = Path(__file__).resolve().parent  # tests/: the helpers, stand-ins and tiny models live here
REPO = TESTS.parent

# A model that does real work on the audio: it reads the dominant frequency. Events go to a log file so
# tests can check the lifecycle (load once, unload after the last item, one model at a time).
MODEL_CONFTEST = '''
import os, json
import numpy as np
import pytest_audiollm

LOG = os.path.join(os.path.dirname(__file__), "events.log")

def log(*parts):
    with open(LOG, "a") as fh:
        fh.write(" ".join(str(p) for p in parts) + "\\n")

class PitchModel(pytest_audiollm.AudioModel):
    """Answers 'high' when the dominant frequency is above 1 kHz, else 'low'."""
    estimate = 10 * 2**20

    def memory_estimate(self):
        return self.estimate

    def load(self, device):
        log("load", self.options.name, device)
        self.weights = np.ones(1000)

    def warmup(self):
        log("warmup", self.options.name)

    def predict(self, requests):
        log("predict", self.options.name, len(requests), ",".join(r.sample.id for r in requests))
        out = []
        for r in requests:
            if "raise" in r.sample.id:
                raise RuntimeError("boom on " + r.sample.id)
            spectrum = np.abs(np.fft.rfft(r.audio))
            freq = np.argmax(spectrum) * r.sample_rate / len(r.audio)
            out.append("high" if freq > 1000 else "low")
        return out

    def unload(self):
        log("unload", self.options.name)
        self.weights = None

    def fingerprint(self):
        return "pitch-v1"

class DeafModel(PitchModel):
    """Always answers 'low'."""
    def predict(self, requests):
        log("predict", self.options.name, len(requests), ",".join(r.sample.id for r in requests))
        return ["low" for _ in requests]

class HugeModel(PitchModel):
    estimate = 64 * 2**30

class HungryModel(PitchModel):
    """Holds 64 MiB of weights once loaded."""
    def load(self, device):
        log("load", self.options.name, device)
        self.weights = np.ones(8 * 2**20)  # 8 Mi float64 = 64 MiB, written so the pages are resident

class WindowedModel(PitchModel):
    """Takes at most 0.2 s of audio; answers with the number of samples it was given."""
    max_audio_seconds = 0.2

    def predict(self, requests):
        log("predict", self.options.name, len(requests), ",".join(str(len(r.audio)) for r in requests))
        return [str(len(r.audio)) for r in requests]

class MiscountModel(PitchModel):
    def predict(self, requests):
        return ["low"] * (len(requests) + 1)

@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry):
    registry.add("pitch", PitchModel)
    registry.add("deaf", DeafModel)
    registry.add("huge", HugeModel)
    registry.add("miscount", MiscountModel)
    registry.add("hungry", HungryModel)
    registry.add("windowed", WindowedModel)
'''

BENCH_YAML = """\
name: tones
version: "1"
task: classification
data:
  format: jsonl
  path: data.jsonl
  fields: {audio: audio, reference: label}
prompt: "Is this tone low or high? Answer with one of: {choices}."
choices: [low, high]
audio: {sample_rate: 16000, max_seconds: 10}
metrics: [accuracy, macro_f1]
thresholds: {accuracy: ">= 0.75"}
"""


def write_tone(path: Path, freq: float, seconds: float = 0.5, rate: int = 16000, channels: int = 1) -> None:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate)


# twelve tones: six low, six high
TONES_12 = [(f"low_{i:03d}", 200.0 + 30 * i, "low") for i in range(1, 7)] + [
    (f"high_{i:03d}", 1500.0 + 100 * i, "high") for i in range(1, 7)
]


class SineDataset:
    """bench_tones.yaml + data.jsonl + tone files in a pytester directory."""

    TONES = [
        ("low_001", 220.0, "low"),
        ("low_002", 330.0, "low"),
        ("high_001", 2000.0, "high"),
        ("high_002", 3000.0, "high"),
        ("low_003", 440.0, "low"),
        ("high_003", 1500.0, "high"),
    ]

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.root = pytester.path
        pytester.makeconftest(MODEL_CONFTEST)
        self.write()

    def write(
        self,
        tones: list[tuple[str, float, str]] | None = None,
        yaml_text: str = BENCH_YAML,
        name: str = "bench_tones.yaml",
    ) -> Path:
        lines = []
        for sample_id, freq, label in tones or self.TONES:
            rate = 22050 if sample_id.endswith("2") else 16000
            write_tone(self.root / "audio" / f"{sample_id}.wav", freq, rate=rate, channels=2 if rate == 22050 else 1)
            lines.append(json.dumps({"id": sample_id, "audio": f"audio/{sample_id}.wav", "label": label}))
        (self.root / "data.jsonl").write_text("\n".join(lines) + "\n")
        path = self.root / name
        path.write_text(yaml_text)
        return path

    def events(self) -> list[str]:
        log = self.root / "events.log"
        return log.read_text().splitlines() if log.exists() else []


def load_results(path: Path) -> dict[str, Any]:
    """A results file, validated against the JSON Schema the package ships (every test reads through here)."""
    from pytest_audiollm.records.schema import validate_results

    document: dict[str, Any] = json.loads(path.read_text())
    validate_results(document)
    return document


def run_by_benchmark(results: dict[str, Any], benchmark: str, model: str | None = None) -> dict[str, Any]:
    for run in results["runs"]:
        if run["benchmark"] == benchmark and (model is None or run["model"] == model):
            return run
    raise AssertionError(f"no run {benchmark} / {model} in {[(r['benchmark'], r['model']) for r in results['runs']]}")


def failures_section(result: pytest.RunResult) -> str:
    """The output above pytest's short test summary: that summary repeats each failure's message, cut to the
    terminal width except where a CI variable is set (then whole), so counts over the whole output vary."""
    return result.stdout.str().split("short test summary info")[0]


@contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; yields its base URL, shuts down after."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
