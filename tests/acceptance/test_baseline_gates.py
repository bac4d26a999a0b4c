"""Baseline round trip through real pytest runs: a worse model fails the regression gate, an equal one passes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from plugin_helpers import SineDataset

TONES = [(f"low_{i:03d}", 200.0 + 10 * i, "low") for i in range(15)] + [
    (f"high_{i:03d}", 1500.0 + 50 * i, "high") for i in range(15)
]


def test_worse_model_fails_the_regression_gate_and_lists_flipped_samples(sines: SineDataset) -> None:
    sines.write(tones=TONES)
    pytester = sines.pytester
    pytester.runpytest("--audiollm-model", "pitch", "--audiollm-save-baseline", "baseline.json").assert_outcomes(
        passed=32
    )
    baseline = json.loads((pytester.path / "baseline.json").read_text())
    assert baseline["runs"][0]["model_fingerprint"] == "pitch-v1" and baseline["runs"][0]["samples"][0]["stats"]

    same = pytester.runpytest("--audiollm-model", "pitch", "--audiollm-baseline", "baseline.json")
    same.assert_outcomes(passed=32)
    same.stdout.fnmatch_lines(["*accuracy ^*PASS*+0.0000 (p 1) ok*"])

    # 'deaf' always answers low: accuracy drops 1.0 -> 0.5; its threshold is lowered so only the baseline gate fails
    worse = pytester.runpytest(
        "--audiollm-model", "deaf", "--audiollm-baseline", "baseline.json",
        "--audiollm-threshold", "tones:accuracy>=0.1", "--junitxml", "j.xml", "-o", "junit_family=xunit1",
        "--html", "r.html", "--self-contained-html",
    )  # fmt: skip
    worse.assert_outcomes(passed=30, failed=2)  # accuracy and macro_f1 regress
    worse.stdout.fnmatch_lines([
        "*accuracy regressed against the baseline: 0.5000 vs 1.0000 (change -0.5000, mcnemar p = 3.05*e-05 < 0.05*"
        "worse samples: high_000, high_001*",
    ])  # fmt: skip
    gate = next(
        c for c in ET.parse(pytester.path / "j.xml").iter("testcase") if c.get("name", "").endswith("gate:accuracy]")
    )
    props = {p.get("name"): p.get("value") for p in gate.iter("property")}
    assert props["audiollm.baseline_value"] == "1" and props["audiollm.baseline_delta"] == "-0.5"
    page = (pytester.path / "r.html").read_text()
    assert "samples that got worse than the baseline of deaf on tones" in page  # to listen to in the report
    assert page.count("data:audio/wav;base64") >= 10


def test_changed_data_is_an_error_not_a_silent_comparison(sines: SineDataset) -> None:
    sines.write(tones=TONES)
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-save-baseline", "b.json")
    sines.write(tones=TONES[:-1])  # one sample less: another data checksum
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-baseline", "b.json")
    result.assert_outcomes(passed=29, failed=2)
    result.stdout.fnmatch_lines(["*cannot compare with the baseline: *data checksum*"])


def test_max_regression_off_and_tolerance_from_yaml(sines: SineDataset) -> None:
    from plugin_helpers import BENCH_YAML

    sines.write(tones=TONES)
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-save-baseline", "b.json")
    sines.write(tones=TONES, yaml_text=BENCH_YAML + "max_regression: {accuracy: 0.6, macro_f1: off}\n")
    result = sines.pytester.runpytest(
        "--audiollm-model", "deaf", "--audiollm-baseline", "b.json", "--audiollm-threshold", "tones:accuracy>=0.1"
    )
    result.assert_outcomes(passed=32)  # a 0.5 drop is within the 0.6 tolerance; macro_f1 is not compared


def test_suite_properties_come_from_the_controller_under_xdist(sines: SineDataset) -> None:
    result = sines.pytester.runpytest_subprocess(
        "--audiollm-model", "pitch", "--audiollm-model", "deaf", "-n", "2", "--junitxml", "j.xml",
        "-o", "junit_family=xunit2",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["tones: trend over 2 models", "*pitch*1.0000*", "*deaf*0.5000*",
                                 "  best: accuracy: pitch, macro_f1: pitch"])  # fmt: skip
    suite = next(ET.parse(sines.pytester.path / "j.xml").iter("testsuite"))
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert props["audiollm.tones.pitch.accuracy"] == "1" and props["audiollm.tones.deaf.accuracy"] == "0.5"
    assert props["audiollm.tones.deaf.fingerprint"] == "pitch-v1"
