"""The examples/ folder works as its READMEs say: each example is copied into a pytester directory and run."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_helpers import load_results, run_by_benchmark

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCORE_LINE = re.compile(
    r"^  accuracy \^  (\d\.\d{4})  \[(\d\.\d{4}), (\d\.\d{4})\]  (\d+)  >= ([\d.]+)  (PASS|FAIL)\s*$"
)


def copy_example(pytester: pytest.Pytester, name: str) -> Path:
    """Copy examples/NAME to PYTESTER/examples/NAME, so the README's command runs unchanged."""
    target = pytester.path / "examples" / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def score_lines(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "audiollm scores" in line)
    table = lines[start + 1 : start + 5]
    print("\n".join(table))
    return table


def test_custom_model_example_runs_as_its_readme_says(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "custom_model")
    readme = (EXAMPLES / "custom_model" / "README.md").read_text()
    command = "pytest examples/custom_model --audiollm-model energy --audiollm-benchmark demo-classification"
    assert command in readme
    result = pytester.runpytest(*command.split()[1:], "-v", "--audiollm-results", "out.json")
    result.assert_outcomes(passed=26)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*demo-classification[[]energy::tone_001[]] PASSED*",
            "*demo-classification[[]energy::gate:accuracy[]] PASSED*",
            "*demo-classification[[]energy::gate:macro_f1[]] PASSED*",
            "demo-classification on energy: 24 samples, 0 errors*",
        ]
    )
    table = score_lines(result)
    match = next(m for line in table if (m := SCORE_LINE.match(line)))
    value, low, high, n, threshold, verdict = match.groups()
    assert (n, threshold, verdict) == ("24", "0.6", "PASS")
    assert 0.7 <= float(value) < 1.0  # the features really separate the classes, and the hard clips stay hard
    assert float(low) <= float(value) <= float(high)

    run = run_by_benchmark(load_results(pytester.path / "out.json"), "demo-classification", "energy")
    assert run["model_fingerprint"] == "energy-classifier-v1"
    predictions = {s["id"]: s["prediction"] for s in run["samples"]}
    assert set(predictions.values()) == {"tone", "chirp", "noise", "pulses"}  # answers among the choices
    assert predictions["tone_001"] == "tone" and predictions["chirp_001"] == "chirp"
    assert predictions["noise_001"] == "noise" and predictions["pulses_001"] == "pulses"


def test_custom_model_example_respects_the_memory_budget(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "custom_model")
    result = pytester.runpytest(
        "examples/custom_model",
        "--audiollm-model=energy",
        "--audiollm-benchmark=demo-classification",
        "--audiollm-memory-budget=1KiB",
    )
    result.assert_outcomes(skipped=26)


def test_custom_benchmark_example_runs_and_its_gate_can_fail(pytester: pytest.Pytester) -> None:
    root = copy_example(pytester, "custom_benchmark")
    audio = list((root / "audio").glob("*.flac"))
    assert len(audio) == 8 and sum(p.stat().st_size for p in audio) < 200_000
    assert "pytest examples/custom_benchmark --audiollm-model whistle-pitch" in (root / "README.md").read_text()

    result = pytester.runpytest("examples/custom_benchmark", "--audiollm-model", "whistle-pitch", "-v")
    result.assert_outcomes(passed=10)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "examples/custom_benchmark/bench_whistles.yaml::whistles[[]whistle-pitch::whistle_01[]] PASSED*",
            "*whistles[[]whistle-pitch::gate:accuracy[]] PASSED*",
            "*whistles[[]whistle-pitch::gate:macro_f1[]] PASSED*",
        ]
    )
    match = next(m for line in score_lines(result) if (m := SCORE_LINE.match(line)))
    assert match.groups() == ("1.0000", "1.0000", "1.0000", "8", "0.875", "PASS")

    # the README's failing-gate command: every sample item passes, the accuracy gate fails, exit code 1
    failing = pytester.runpytest(
        "examples/custom_benchmark", "--audiollm-model", "whistle-pitch", "--audiollm-model-arg", "split_hz=3000"
    )
    failing.assert_outcomes(passed=9, failed=1)
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(["*FAILS the gate >= 0.875*"])


def test_make_audio_is_deterministic(pytester: pytest.Pytester) -> None:
    root = copy_example(pytester, "custom_benchmark")
    before = {p.name: p.read_bytes() for p in (root / "audio").iterdir()}
    manifest = (root / "whistles.jsonl").read_text()
    shutil.rmtree(root / "audio")
    (root / "whistles.jsonl").unlink()
    assert pytester.run(sys.executable, str(root / "make_audio.py")).ret == 0
    assert {p.name: p.read_bytes() for p in (root / "audio").iterdir()} == before
    assert (root / "whistles.jsonl").read_text() == manifest


def test_github_actions_workflow_runs_the_gated_benchmarks() -> None:
    workflow: dict[Any, Any] = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "push" in triggers and "checkpoint" in triggers["workflow_dispatch"]["inputs"]
    steps = workflow["jobs"]["benchmarks"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]

    install = next(run for run in runs if "pip install" in run)
    assert '"pytest-audiollm[all]"' in install and "torch==2.13.0" in install
    command = next(run for run in runs if run.startswith("pytest "))
    assert command.split()[:2] == ["pytest", "benchmarks/"]
    for option in ('--audiollm-model "hf:${CHECKPOINT}"', "--audiollm-results results.json", "--junitxml junit.xml"):
        assert option in command
    assert "inputs.checkpoint || './checkpoints/latest'" in workflow["jobs"]["benchmarks"]["env"]["CHECKPOINT"]
    pytest_step = next(step for step in steps if step.get("run") == command)
    assert not pytest_step.get("continue-on-error")  # the exit code of pytest fails the job on a failed gate

    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"].startswith("always()")
    assert set(upload["with"]["path"].split()) == {"results.json", "junit.xml"}
    report = next(step for step in steps if step.get("uses", "").startswith("dorny/test-reporter@"))
    assert report["with"]["path"] == "junit.xml" and report["with"]["reporter"] == "java-junit"


def test_text_to_audio_example_runs_as_its_readme_says(pytester: pytest.Pytester) -> None:
    """The generator example: paired metrics pass their gates; FD/FAD skip with the download command."""
    copy_example(pytester, "text_to_audio")
    command = "pytest examples/text_to_audio --audiollm-model tone-synth"
    assert command in (EXAMPLES / "text_to_audio" / "README.md").read_text()
    pytester._monkeypatch.delenv("AUDIOLLM_CNN14_16K_CHECKPOINT", raising=False)
    pytester._monkeypatch.delenv("AUDIOLLM_VGGISH_CHECKPOINT", raising=False)
    pytester._monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(pytester.path / "cache"))
    result = pytester.runpytest_subprocess(*command.split()[1:], "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=6 + 3, skipped=2)
    result.stdout.fnmatch_lines(["*psnr ^ *>= 10  PASS*", "*python -m pytest_audiollm download cnn14-16k*"])
