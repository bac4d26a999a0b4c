"""The pytest-html report: summary numbers equal the results file, with and without xdist; escaping; a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import BENCH_YAML, SineDataset, load_results

pytest.importorskip("pytest_html")

# Registers the HTML plugin the way plugin.py will (controller only, with --html), and, until rows carry it,
# adds the sample's audio path to the row so that players can be embedded.
REGISTER = ""  # the plugin registers its HTML layer itself when --html is given

INJECT_MODEL = """

class EvilModel(PitchModel):
    def predict(self, requests):
        return ["<script>alert(1)</script> <img src=x onerror=alert(1)> low" for _ in requests]

@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry):
    registry.add("evil", EvilModel)
"""


def _setup(sines: SineDataset, extra: str = "") -> None:
    conftest = sines.root / "conftest.py"
    conftest.write_text(conftest.read_text() + REGISTER + extra)


class _SummaryParser(HTMLParser):
    """Collects {(benchmark, model, metric or "", field): text} from the data-audiollm-* cells."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str, str], str] = {}
        self.benchmark = self.model = ""
        self.key: tuple[str, str, str, str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and "data-audiollm-benchmark" in a:
            self.benchmark = a["data-audiollm-benchmark"]
        elif tag == "tr" and "data-audiollm-model" in a:
            self.model = a["data-audiollm-model"]
        elif tag == "td" and "data-audiollm-field" in a:
            self.key = (self.benchmark, self.model, a.get("data-audiollm-metric", ""), a["data-audiollm-field"])
            self.text = []

    def handle_data(self, data: str) -> None:
        if self.key is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.key is not None:
            self.cells[self.key] = "".join(self.text).strip()
            self.key = None


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


def _check_summary_matches_results(report: Path, results: Path) -> str:
    text = report.read_text()
    parser = _SummaryParser()
    parser.feed(text)
    cells = parser.cells
    runs = load_results(results)["runs"]
    assert runs
    for run in runs:
        key = (run["benchmark"], run["model"])
        assert cells[(*key, "", "samples")] == str(run["counts"]["samples"])
        assert cells[(*key, "", "errors")] == str(run["counts"]["errors"])
        gates = {g["metric"]: g for g in run["gates"]}
        for name, metric in run["metrics"].items():
            assert cells[(*key, name, "value")] == _fmt(metric["value"]), (key, name)
            ci = metric.get("ci95") or [None, None]
            assert cells[(*key, name, "ci95")] == f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"
            gate = gates.get(name)
            expected = "-" if gate is None else {True: "PASS", False: "FAIL", None: "SKIP"}[gate["passed"]]
            assert cells[(*key, name, "gate")] == expected
    return text


def _base_args(*models: str) -> list[str]:
    args = ["-p", "no:randomly", "-p", "no:cacheprovider"]
    for model in models:
        args += ["--audiollm-model", model]
    return [*args, "--html", "report.html", "--self-contained-html", "--audiollm-results", "out.json"]


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_summary_equals_results_json(sines: SineDataset, xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    _setup(sines)
    extra = ["-n", "2"] if xdist else []
    result = sines.pytester.runpytest_subprocess(*_base_args("pitch", "deaf"), *extra)
    assert result.ret == 1, result.stdout.str()  # deaf fails the accuracy gate
    text = _check_summary_matches_results(sines.root / "report.html", sines.root / "out.json")
    assert "Audio model scores" in text
    assert "Best model per metric" in text  # two models on one benchmark
    assert text.count("data:image/png;base64,") >= (4 if _has_matplotlib() else 0)  # trend, 2 hists, 2 confusions
    # the 5 worst samples per run get players (rows carry audio_path); the per-sample columns exist
    assert text.count("data:audio/wav;base64,") == 10
    assert "audiollmModel" in text and "audiollmScore" in text


def test_failed_samples_get_detail_and_player(sines: SineDataset) -> None:
    _setup(sines)
    sines.write(yaml_text=BENCH_YAML + 'sample_thresholds: {accuracy: ">= 1"}\n')
    result = sines.pytester.runpytest_subprocess(*_base_args("deaf"))
    assert result.ret == 1
    text = (sines.root / "report.html").read_text()
    # 3 high tones fail for deaf: a detail block each (in the JSON blob, so attribute-escaped) + 5 worst players
    assert text.count("&lt;dl class=") == 3
    assert text.count("data:audio/wav;base64,") == 3 + 5


def test_model_output_is_escaped(sines: SineDataset) -> None:
    _setup(sines, INJECT_MODEL)
    sines.write(yaml_text=BENCH_YAML + 'sample_thresholds: {accuracy: ">= 1"}\n')
    result = sines.pytester.runpytest_subprocess(*_base_args("evil"))
    assert result.ret == 1
    text = (sines.root / "report.html").read_text()
    assert "<script>alert(1)</script>" not in text
    assert "<img src=x onerror" not in text
    assert "&lt;script&gt;alert(1)" in text  # shown as text in the summary's worst samples
    # in the JSON blob the cells are HTML escaped once by us and once by the template: still text when parsed
    assert "&amp;lt;script&amp;gt;alert(1)" in text
    _render_in_chromium(sines.root / "report.html", sines.root)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _render_in_chromium(report: Path, tmp: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return
    shot = tmp / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={shot}",
                "--window-size=1400,2000",
                report.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    log = proc.stdout + proc.stderr
    errors = [line for line in log.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line]
    assert not errors, "\n".join(errors)
    assert shot.exists() and shot.stat().st_size > 10_000, log[-2000:]
    artifacts = os.environ.get("AUDIOLLM_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "html_report.png")


def test_report_renders_in_chromium_without_console_errors(sines: SineDataset) -> None:
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        pytest.skip("chromium is not installed")
    _setup(sines)
    result = sines.pytester.runpytest_subprocess(*_base_args("pitch", "deaf"))
    assert result.ret == 1
    _render_in_chromium(sines.root / "report.html", sines.root)


def test_audio_player_is_16k_mono_and_capped(sines: SineDataset, tmp_path: Path) -> None:
    import io
    import wave
    from base64 import b64decode

    from plugin_helpers import write_tone

    from pytest_audiollm.report.players import AudioEmbedder, wav_data_uri

    long = tmp_path / "long.wav"
    write_tone(long, 440.0, seconds=12.0, rate=44100, channels=2)
    uri = wav_data_uri(str(long))
    with wave.open(io.BytesIO(b64decode(uri.split(",", 1)[1]))) as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 16000)
        assert clip.getnframes() == 160000  # cut to 10 s
    audio = AudioEmbedder(budget_bytes=len(uri) + 10)
    assert "<audio controls" in audio.player({"audio_path": str(long)})
    assert "budget is used up" in audio.player({"audio_path": str(long)})
    assert audio.player({"id": "no path"}) == ""
    note = audio.note()
    assert "1 embedded" in note and "1 more samples have no player" in note
