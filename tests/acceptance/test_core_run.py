"""Acceptance tests: real pytest runs of the plugin on a small benchmark with a conftest model."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from plugin_helpers import BENCH_YAML, SineDataset, load_results, run_by_benchmark


def test_yaml_benchmark_runs_one_item_per_sample_plus_gates(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "-v", "--audiollm-results", "out.json")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        [
            "bench_tones.yaml::tones[[]pitch::low_001[]] PASSED*",
            "bench_tones.yaml::tones[[]pitch::gate:accuracy[]] PASSED*",
            "*audiollm scores*",
            "tones on pitch: 6 samples, 0 errors*",
            "*accuracy ^*1.0000*>= 0.75  PASS*",
        ]
    )
    run = run_by_benchmark(load_results(sines.root / "out.json"), "tones")
    assert run["metrics"]["accuracy"]["value"] == 1.0
    assert run["model_fingerprint"] == "pitch-v1"
    assert [s["id"] for s in run["samples"]] == [t[0] for t in SineDataset.TONES]
    assert run["samples"][0]["prediction"] == "low"
    assert run["gates"] == [
        {"metric": "accuracy", "bound": "value", "op": ">=", "threshold": 0.75, "passed": True, "value": 1.0}
    ]


def test_failing_gate_fails_the_run_but_no_sample(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "deaf", "-rA")
    result.assert_outcomes(passed=7, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*tones[[]deaf::gate:accuracy[]]*", "accuracy = 0.5000 (95% CI *) on 6 samples FAILS the gate >= 0.75"]
    )


def test_threshold_option_overrides_yaml_and_can_use_ci_bound(sines: SineDataset) -> None:
    result = sines.pytester.runpytest(
        "--audiollm-model",
        "deaf",
        "--audiollm-threshold",
        "tones:accuracy>=0.4",
        "--audiollm-threshold",
        "*:macro_f1 ci_high<=0.1",
    )
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*macro_f1*ci_high = *FAILS the gate ci_high <= 0.1*"])


def test_keyword_last_failed_exitfirst_and_limit(sines: SineDataset) -> None:
    pytester = sines.pytester
    collected = pytester.runpytest("--audiollm-model", "pitch", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["bench_tones.yaml::tones[[]pitch::low_001[]]", "*8 tests collected*"])
    pytester.runpytest("--audiollm-model", "pitch", "-k", "high").assert_outcomes(passed=3, deselected=5)
    limited = pytester.runpytest("--audiollm-model", "pitch", "--audiollm-limit", "2", "--collect-only", "-q")
    limited.stdout.fnmatch_lines(["*4 tests collected*"])
    pytester.runpytest("--audiollm-model", "deaf").assert_outcomes(passed=7, failed=1)
    rerun = pytester.runpytest("--audiollm-model", "deaf", "--lf")
    rerun.assert_outcomes(passed=6, failed=1)  # the failed gate comes back with its samples
    rerun.stdout.fnmatch_lines(["*FAILS the gate*"])
    first = pytester.runpytest("--audiollm-model", "deaf", "-x", "--audiollm-threshold", "tones:accuracy>=0.9")
    first.assert_outcomes(passed=6, failed=1)  # stops at the failing gate


def test_two_models_load_once_in_turn(sines: SineDataset) -> None:
    result = sines.pytester.runpytest(
        "--audiollm-model", "pitch", "--audiollm-model", "deaf", "--audiollm-batch-size", "4"
    )
    result.assert_outcomes(passed=15, failed=1)
    lifecycle = [e for e in sines.events() if not e.startswith("predict")]
    assert lifecycle == [
        "load pitch cpu",
        "warmup pitch",
        "unload pitch",
        "load deaf cpu",
        "warmup deaf",
        "unload deaf",
    ]
    batches = [e.split()[2] for e in sines.events() if e.startswith("predict pitch")]
    assert batches == ["4", "2"]


def test_memory_budget_skips_or_fails_with_both_numbers(sines: SineDataset) -> None:
    skipped = sines.pytester.runpytest("--audiollm-model", "huge", "--audiollm-memory-budget", "2GiB", "-rs")
    skipped.assert_outcomes(skipped=8)
    skipped.stdout.fnmatch_lines(
        [
            "*model 'huge' needs an estimated 64.0 GiB (68719476736 bytes)*"
            "memory budget of 2.0 GiB (2147483648 bytes): not loaded*"
        ]
    )
    assert not any(e.startswith("load") for e in sines.events())
    strict = sines.pytester.runpytest(
        "--audiollm-model", "huge", "--audiollm-memory-budget", "2GiB", "--audiollm-strict"
    )
    strict.assert_outcomes(failed=6 + 1, skipped=1)  # the gate with a threshold fails too; macro_f1 has none
    fits = sines.pytester.runpytest(
        "--audiollm-model", "pitch", "--audiollm-memory-budget", "2GiB", "--audiollm-results", "r.json"
    )
    fits.assert_outcomes(passed=8)
    memory = load_results(sines.root / "r.json")["runs"][0]["memory"]
    assert memory["budget_bytes"] == 2 * 2**30 and memory["estimate_bytes"] == 10 * 2**20
    assert memory["peak_bytes"] >= 0 and memory["device"] == "cpu"


def test_junit_properties_for_samples_and_gates(sines: SineDataset) -> None:
    sines.pytester.runpytest(
        "--audiollm-model", "pitch", "--junitxml", "junit.xml", "-o", "junit_family=xunit1"
    ).assert_outcomes(passed=8)
    tree = ET.parse(sines.root / "junit.xml")
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    sample = {p.get("name"): p.get("value") for p in cases["tones[pitch::high_001]"].iter("property")}
    assert sample["audiollm.prediction"] == "high"
    assert sample["audiollm.score.accuracy"] == "1"
    assert sample["audiollm.references"] == "high"
    gate = {p.get("name"): p.get("value") for p in cases["tones[pitch::gate:accuracy]"].iter("property")}
    assert gate["audiollm.value"] == "1" and gate["audiollm.threshold"] == ">= 0.75" and gate["audiollm.n"] == "6"


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_written_for_both_families(sines: SineDataset, family: str) -> None:
    sines.pytester.runpytest("--audiollm-model", "pitch", "--junitxml", "j.xml", "-o", f"junit_family={family}")
    tree = ET.parse(sines.root / "j.xml")
    assert len(list(tree.iter("testcase"))) == 8


def test_peak_memory_of_a_model_is_measured(sines: SineDataset) -> None:
    sines.pytester.runpytest("--audiollm-model", "hungry", "--audiollm-results", "r.json").assert_outcomes(passed=8)
    memory = load_results(sines.root / "r.json")["runs"][0]["memory"]
    assert 64 * 2**20 <= memory["peak_bytes"] < 200 * 2**20, memory


def test_cut_audio_is_recorded_never_silent(sines: SineDataset) -> None:
    sines.write(yaml_text=BENCH_YAML.replace("max_seconds: 10", "max_seconds: 0.2"))
    result = sines.pytester.runpytest(
        "--audiollm-model", "pitch", "--audiollm-results", "r.json", "--junitxml", "j.xml", "-o", "junit_family=xunit1"
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["tones on pitch: 6 samples, 0 errors, 6 truncated*"])
    run = load_results(sines.root / "r.json")["runs"][0]
    assert run["counts"]["truncated"] == 6
    assert {s["audio"]["truncated_s"] for s in run["samples"]} == {0.3}
    props = {p.get("name"): p.get("value") for p in ET.parse(sines.root / "j.xml").iter("property")}
    assert props["audiollm.truncated_s"] == "0.3"


def test_long_audio_reaches_the_model_in_windows_and_the_results_say_so(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "windowed", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=7, failed=1)  # answers are sample counts, not labels: the gate fails
    seen = [int(n) for e in sines.events() if e.startswith("predict") for n in e.split()[3].split(",")]
    assert max(seen) == 3200  # 0.2 s at 16 kHz: never more than the window
    sample = load_results(sines.root / "r.json")["runs"][0]["samples"][0]
    assert sample["prediction"] == "3200 3200 1600"  # 0.5 s: windows 0-0.2, 0.2-0.4, 0.4-0.5 s, joined
    assert sample["audio"]["windows"] == 3 and sample["audio"]["window_s"] == 0.2
