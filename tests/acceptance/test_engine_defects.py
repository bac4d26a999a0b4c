"""The defects the engine issue listed, each reproduced as a user meets it (each of these failed before the fix)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import TONES_12, SineDataset, failures_section, load_results, run_by_benchmark

from pytest_audiollm.benchmarks.data_spec import DataSpec


def test_deselected_gates_keep_the_model_fingerprint_timing_and_memory(sines: SineDataset) -> None:
    for selection in (["-k", "not gate"], ["-x", "-k", "low_001 or high_001"]):
        result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json", *selection)
        assert result.ret == 0
        run = run_by_benchmark(load_results(sines.root / "r.json"), "tones")
        assert run["model_fingerprint"] == "pitch-v1", selection
        assert run["timing"]["load_s"] > 0 and run["timing"]["warmup_s"] > 0
        assert run["memory"]["estimate_bytes"] == 10 * 2**20 and run["memory"]["peak_bytes"] is not None
        assert run["kind"] == "text" and run["benchmark_version"] == "1"


def test_benchmarks_without_a_model_are_a_usage_error(pytester: pytest.Pytester) -> None:
    for args in (["--audiollm-benchmark", "demo"], []):
        if not args:
            SineDataset(pytester)  # a bench_*.yaml collected from the directory
        result = pytester.runpytest(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert "no model selected for " in result.stdout.str() + result.stderr.str()
        assert "pass --audiollm-model NAME" in result.stdout.str() + result.stderr.str()


def test_registered_benchmarks_are_counted_as_collected(pytester: pytest.Pytester) -> None:
    args = ["--audiollm-model", "demo", "--audiollm-benchmark", "demo-classification", "--audiollm-bootstrap", "10"]
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["collected 26 items"])
    listed = pytester.runpytest(*args, "--collect-only", "-q")
    listed.stdout.fnmatch_lines(["26 tests collected*"])
    assert listed.ret == 0


def test_last_failed_reruns_a_failed_gate_with_its_samples_and_counts_right(sines: SineDataset) -> None:
    sines.write(tones=TONES_12)
    first = sines.pytester.runpytest("--audiollm-model", "deaf")
    first.assert_outcomes(passed=13, failed=1)  # 12 samples, macro_f1 (no gate), accuracy gate fails
    again = sines.pytester.runpytest("--audiollm-model", "deaf", "--lf")
    # the failed gate and the samples it aggregates, not the passed macro_f1 item; the footer adds up to the header
    again.assert_outcomes(passed=12, failed=1)
    again.stdout.fnmatch_lines(["collected 13 items", "run-last-failure: rerun previous 13 failures*"])


def test_data_home_serves_brace_and_glob_shard_patterns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "shards").mkdir(parents=True)
    for i in range(2):
        (home / "shards" / f"part-{i:03d}.tar").write_bytes(b"")
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    monkeypatch.setenv("AUDIOLLM_DATA_HOME", str(home))
    for pattern in ("shards/part-{000..001}.tar", "shards/*.tar", "shards/part-00[01].tar"):
        resolved = DataSpec("webdataset", pattern, bench_dir).resolve()
        assert resolved == home / pattern, pattern
    (bench_dir / "shards").mkdir()
    (bench_dir / "shards" / "part-000.tar").write_bytes(b"")  # next to the YAML wins when it matches there
    pattern = "shards/part-{000..001}.tar"
    assert DataSpec("webdataset", pattern, bench_dir).resolve() == bench_dir / pattern


def test_scorer_versions_are_recorded(sines: SineDataset) -> None:
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    run = run_by_benchmark(load_results(sines.root / "r.json"), "tones")
    assert run["scorers"] == {"text_normalizer": "basic-1", "caption_tokenizer": "ptb-corenlp-3.4.1"}


def test_compare_survives_a_closed_pipe_and_says_each_thing_once(sines: SineDataset) -> None:
    saved = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-save-baseline", "a.json")
    saved.stdout.fnmatch_lines([f"pytest-audiollm: baseline saved to {sines.root / 'a.json'}"])
    sines.pytester.runpytest("--audiollm-model", "deaf", "--audiollm-results", "b.json")
    command = f"{sys.executable} -m pytest_audiollm compare a.json b.json | head -n 1; echo status ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", command], cwd=sines.root, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stdout.splitlines()[-1] in ("status 0", "status 1")  # the comparison's own exit code
    tones = list(SineDataset.TONES)
    tones[0] = ("low_001", 250.0, "low")  # other audio: the data differ
    sines.write(tones=tones)
    changed = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-baseline", "a.json")
    text = failures_section(changed)
    assert text.count("cannot compare with the baseline") == 2  # one per gate item, each said once
    assert "cannot compare with the baseline: cannot compare" not in text


def test_compare_refuses_an_interrupted_baseline(sines: SineDataset) -> None:
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "b.json")
    document = json.loads((sines.root / "b.json").read_text())
    (sines.root / "a.json").write_text(json.dumps(dict(document, complete=False)))
    done = sines.pytester.run(sys.executable, "-m", "pytest_audiollm", "compare", "a.json", "b.json")
    assert done.ret == 2 and "interrupted session" in done.stderr.str()
    swapped = sines.pytester.run(sys.executable, "-m", "pytest_audiollm", "compare", "b.json", "a.json")
    assert swapped.ret == 0 and "comes from an interrupted session" in swapped.stdout.str()
