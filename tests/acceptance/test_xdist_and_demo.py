"""The bundled demo from outside the repo, and the same numbers with pytest-xdist -n 2 as without."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import SineDataset, load_results


def _comparable(results: dict[str, Any]) -> list[dict[str, Any]]:
    """What must not depend on -n: everything but timing, memory and latency."""
    runs = []
    for run in results["runs"]:
        run = {k: v for k, v in run.items() if k not in ("timing", "memory")}
        run["samples"] = [{k: v for k, v in s.items() if k != "latency_s"} for s in run["samples"]]
        runs.append(run)
    return runs


def _gate_properties(path: Path) -> dict[str, dict[str, str]]:
    import xml.etree.ElementTree as ET

    cases = ET.parse(path).iter("testcase")
    return {
        str(c.get("name")): {str(p.get("name")): str(p.get("value")) for p in c.iter("property")}
        for c in cases
        if "gate:" in str(c.get("name"))
    }


def test_demo_runs_from_any_directory(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--audiollm-model", "demo", "--audiollm-benchmark", "demo", "--audiollm-results", "demo.json", timeout=120
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*audiollm scores*",
            "demo-asr on demo: 16 samples, 0 errors*",
            "demo-classification on demo: 24 samples*",
            "* passed, * skipped in *",  # spider at least: no CoreNLP jars on our machines
        ]
    )
    results = load_results(pytester.path / "demo.json")
    assert results["schema"] == 1
    assert {"plugin_version", "created", "python", "packages", "device", "seed", "command"} <= set(results["manifest"])
    values = {(r["benchmark"], name): m["value"] for r in results["runs"] for name, m in r["metrics"].items()}
    notes = {(r["benchmark"], name): m.get("note") for r in results["runs"] for name, m in r["metrics"].items()}
    assert values[("demo-captioning", "spider")] is None  # SPICE needs the CoreNLP jars
    for key, value in values.items():
        if value is None:
            assert "skipped" in notes[key], key  # a metric without its Java/jars/package says why
        elif key[1] == "cider_d":
            assert 0.0 < value < 10.0, key  # CIDEr-D is x10
        else:
            assert 0.0 < value < 1.0, key  # non-trivial scores
    for run in results["runs"]:
        assert run["model_fingerprint"] == "demo-dsp-v1" and len(run["data_checksum"]) == 64
        assert all(g["passed"] for g in run["gates"])


def test_same_aggregates_gates_and_results_with_xdist(sines: SineDataset) -> None:
    pytester = sines.pytester
    args = [
        "--audiollm-model",
        "pitch",
        "--audiollm-model",
        "deaf",
        "--audiollm-benchmark",
        "demo-asr",
        "--audiollm-model",
        "demo",
        "-p",
        "no:randomly",
        ".",
    ]
    serial = pytester.runpytest_subprocess(*args, "--audiollm-results", "serial.json", "--junitxml", "s.xml")
    parallel = pytester.runpytest_subprocess(
        *args, "-n", "2", "--audiollm-results", "parallel.json", "--junitxml", "p.xml"
    )
    assert serial.ret == parallel.ret == 1  # deaf fails the tones gate, in both
    assert serial.parseoutcomes() == parallel.parseoutcomes()
    a, b = load_results(pytester.path / "serial.json"), load_results(pytester.path / "parallel.json")
    assert _comparable(a) == _comparable(b)
    assert len(a["runs"]) == 6
    for name in ("s.xml", "p.xml"):
        assert (pytester.path / name).exists()
    assert _gate_properties(pytester.path / "s.xml") == _gate_properties(pytester.path / "p.xml")
    # each model is loaded once per worker that ran it, never twice in a row on one worker
    loads = [e for e in sines.events() if e.startswith("load")]
    assert len(loads) <= 2 * 2 + 2


def test_plugin_import_is_light_and_help_lists_options(tmp_path: Path) -> None:
    code = (
        "import sys; import pytest_audiollm.plugin; "
        "print(sorted(m for m in ('torch', 'transformers', 'scipy', 'soxr', 'soundfile', 'webdataset', "
        "'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout
    for option in (
        "--audiollm-model",
        "--audiollm-benchmark",
        "--audiollm-limit",
        "--audiollm-batch-size",
        "--audiollm-device",
        "--audiollm-memory-budget",
        "--audiollm-results",
        "--audiollm-threshold",
        "--audiollm-list",
        "--audiollm-strict",
    ):
        assert option in help_text


def test_list_shows_models_benchmarks_metrics(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-list")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "models:",
            "  deaf *Always answers 'low'.",
            "  demo *",
            "  hf:...*",
            "benchmarks:",
            "  demo *bundled demo suite*",
            "metrics (text tasks):",
            "  accuracy * v1, higher is better:*",
            "*  wer * lower is better*",
        ]
    )


def test_entry_point_plugin_registers_a_model(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "mymodels").mkdir(parents=True)
    (site / "mymodels" / "__init__.py").write_text(
        "import pytest_audiollm\n"
        "class Constant(pytest_audiollm.AudioModel):\n"
        "    cpu_only = True\n"
        "    def predict(self, requests):\n"
        "        return ['tone' for _ in requests]\n"
        "@pytest_audiollm.hookimpl\n"
        "def pytest_audiollm_register_models(registry):\n"
        "    registry.add('constant', Constant)\n"
    )
    dist = site / "mymodels-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mymodels\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\nmymodels = mymodels\n")
    env = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{site}{os.pathsep}{env}" if env else str(site))
    result = pytester.runpytest_subprocess(
        "--audiollm-model", "constant", "--audiollm-benchmark", "demo-classification", "--audiollm-results", "r.json"
    )
    result.stdout.fnmatch_lines(["*plugins:*mymodels-1.0*", "*accuracy ^  0.2500*"])
    assert result.ret == 1  # a model that always says 'tone' fails the accuracy gate
    assert json.loads((pytester.path / "r.json").read_text())["runs"][0]["model"] == "constant"
