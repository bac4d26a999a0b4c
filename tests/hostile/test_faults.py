"""Faults in a run: the model raising what is not an Exception, Ctrl-C, -x, a results path that cannot be
written, an unload that raises, devices and FIFOs as audio. Each failed before its fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin_helpers import MODEL_CONFTEST, TONES_12, SineDataset, load_results, run_by_benchmark

from pytest_audiollm.records import read_baseline

SLOW_MODEL = '''
import os, time

class SlowModel(PitchModel):
    """The pitch model, 0.3 s per sample; after its fourth sample it drops a marker file."""
    def predict(self, requests):
        time.sleep(0.3)
        self.done = getattr(self, "done", 0) + len(requests)
        if self.done >= 4:
            open(os.path.join(os.path.dirname(__file__), "four.done"), "w").close()
        return super().predict(requests)

class InterruptingModel(PitchModel):
    """Ctrl-C arrives while it predicts its fifth sample."""
    def predict(self, requests):
        self.done = getattr(self, "done", 0) + len(requests)
        if self.done >= 5:
            raise KeyboardInterrupt
        return super().predict(requests)

@pytest_audiollm.hookimpl(specname="pytest_audiollm_register_models")
def pytest_audiollm_register_slow_models(registry):
    registry.add("slow", SlowModel)
    registry.add("interrupting", InterruptingModel)
'''


@pytest.fixture
def slow_sines(pytester: pytest.Pytester) -> SineDataset:
    sines = SineDataset(pytester)
    pytester.makeconftest(MODEL_CONFTEST + SLOW_MODEL)
    sines.write(tones=TONES_12)
    return sines


def _outputs(root: Path) -> dict[str, str]:
    names = ("r.json", "base.json", "j.xml", "r.html")
    return {name: (root / name).read_text() for name in names if (root / name).exists()}


def test_an_interrupted_session_never_overwrites_good_outputs(slow_sines: SineDataset) -> None:
    """Ctrl-C after 4 of 12 samples: results, baseline, JUnit and HTML of the last good run stay as they were."""
    pytest.importorskip("pytest_html")
    root = slow_sines.root
    args = ["--audiollm-model", "pitch", "--audiollm-results", "r.json", "--audiollm-save-baseline", "base.json",
            "--junitxml", "j.xml", "--html", "r.html", "-p", "no:cacheprovider"]  # fmt: skip
    good = slow_sines.pytester.runpytest(*args)
    assert good.ret == 0
    before = _outputs(root)
    assert set(before) == {"r.json", "base.json", "j.xml", "r.html"}
    slow_args = ["slow" if a == "pitch" else a for a in args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    process = subprocess.Popen([sys.executable, "-m", "pytest", *slow_args], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (root / "four.done").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the slow run ended before its fourth sample:\n{process.communicate()[0]}")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = process.communicate(timeout=120)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert _outputs(root) == before  # byte for byte: nothing replaced by a partial run
    partial = json.loads((root / "r.incomplete.json").read_text())
    assert partial["complete"] is False and 4 <= len(partial["runs"][0]["samples"]) < 12
    assert (root / "j.incomplete.xml").exists() and (root / "r.incomplete.html").exists()
    assert not (root / "base.incomplete.json").exists() and "no baseline saved" in output
    assert not list(root.glob(".*.tmp")) and not list(root.glob("*.tmp"))
    with pytest.raises(Exception, match="interrupted session"):
        read_baseline(root / "r.incomplete.json")
    assert read_baseline(root / "base.json").complete


def test_ctrl_c_inside_predict_keeps_the_sample_and_writes_nothing_over_good_results(slow_sines: SineDataset) -> None:
    slow_sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json", "-p",
                                  "no:cacheprovider")  # fmt: skip
    good = (slow_sines.root / "r.json").read_text()
    result = slow_sines.pytester.runpytest_subprocess("--audiollm-model", "interrupting", "--audiollm-results",
                                                      "r.json", "-p", "no:cacheprovider")  # fmt: skip
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert (slow_sines.root / "r.json").read_text() == good
    rows = json.loads((slow_sines.root / "r.incomplete.json").read_text())["runs"][0]["samples"]
    assert len(rows) == 5 and rows[-1]["error"] == "KeyboardInterrupt: "  # the interrupted sample keeps its row


def test_stopping_after_the_first_failure_is_incomplete(sines: SineDataset) -> None:
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    good = (sines.root / "r.json").read_text()
    tones = list(SineDataset.TONES)
    tones[1] = ("raise_002", 330.0, "low")  # the pitch model raises on this one: its item fails
    sines.write(tones=tones)
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json", "-x")
    result.assert_outcomes(passed=1, failed=1)
    assert (sines.root / "r.json").read_text() == good
    partial = json.loads((sines.root / "r.incomplete.json").read_text())
    assert partial["complete"] is False and len(partial["runs"][0]["samples"]) == 2


def test_a_results_file_that_cannot_be_written_fails_the_run_in_one_line(sines: SineDataset) -> None:
    (sines.root / "taken.json").mkdir()  # the path is a directory: replacing it fails like a full disk would
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "taken.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # every gate passed, but the results were not saved
    result.stdout.fnmatch_lines(["pytest-audiollm: error: could not write *taken.json: * (the previous file*"])
    assert (sines.root / "taken.json").is_dir() and not list(sines.root.glob(".taken.json*"))


def test_a_model_returning_one_string_or_none_fails_every_sample_with_the_reason(pytester: pytest.Pytester) -> None:
    sines = SineDataset(pytester)
    pytester.makeconftest(
        MODEL_CONFTEST
        + "\nclass Stringy(PitchModel):\n    def predict(self, requests):\n        return 'low' * len(requests)\n"
        + "class Nothing(PitchModel):\n    def predict(self, requests):\n        return None\n"
        + "@pytest_audiollm.hookimpl(specname='pytest_audiollm_register_models')\n"
        + "def pytest_audiollm_register_odd(registry):\n"
        + "    registry.add('stringy', Stringy)\n    registry.add('nothing', Nothing)\n"
    )
    for model, said in (("stringy", "returned one str"), ("nothing", "returned None")):
        result = sines.pytester.runpytest("--audiollm-model", model, "--audiollm-results", "r.json")
        result.assert_outcomes(failed=6 + 1, passed=1)  # every sample fails and scores as a wrong answer
        run = run_by_benchmark(load_results(sines.root / "r.json"), "tones")
        assert all(said in (s["error"] or "") and s["error_kind"] == "output" for s in run["samples"]), model


def test_an_unload_that_raises_belongs_to_its_model_alone(sines: SineDataset) -> None:
    sines.pytester.makeconftest(
        MODEL_CONFTEST
        + "\nclass Sticky(PitchModel):\n    def unload(self):\n        raise RuntimeError('cannot free the GPU')\n"
        + "@pytest_audiollm.hookimpl(specname='pytest_audiollm_register_models')\n"
        + "def pytest_audiollm_register_sticky(registry):\n    registry.add('sticky', Sticky)\n"
    )
    result = sines.pytester.runpytest("--audiollm-model", "sticky", "--audiollm-model", "pitch", "--html", "r.html")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 16 and outcomes["errors"] == 1  # both models' 8 items pass; sticky's teardown errors
    result.stdout.fnmatch_lines(["*ERROR at teardown of tones[[]sticky::*", "*model 'sticky': unload() raised*"])
    assert "tones on pitch: 6 samples, 0 errors" in result.stdout.str() and (sines.root / "r.html").exists()


def test_devices_fifos_and_huge_files_fail_their_own_sample(
    sines: SineDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(sines.root / "audio" / "pipe.wav")
    (sines.root / "audio" / "big.wav").write_bytes(b"\0" * 200_000)
    lines = (sines.root / "data.jsonl").read_text().splitlines()
    lines += [json.dumps({"id": "zero", "audio": "/dev/zero", "label": "low"}),
              json.dumps({"id": "fifo", "audio": "audio/pipe.wav", "label": "low"}),
              json.dumps({"id": "big", "audio": "audio/big.wav", "label": "low"})]  # fmt: skip
    (sines.root / "data.jsonl").write_text("\n".join(lines) + "\n")
    yaml_text = (sines.root / "bench_tones.yaml").read_text()  # /dev/zero is outside the manifest's folder
    (sines.root / "bench_tones.yaml").write_text(
        yaml_text.replace("  path: data.jsonl\n", "  path: data.jsonl\n  allow_outside: true\n")
    )
    monkeypatch.setenv("AUDIOLLM_MAX_AUDIO_BYTES", "100000")  # the tones are 16 to 45 kB
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=6 + 2, failed=3)
    errors = {s["id"]: s["error"] for s in run_by_benchmark(load_results(sines.root / "r.json"), "tones")["samples"]}
    assert "not a regular file" in errors["zero"] and "not a regular file" in errors["fifo"]
    assert "more than the 100000 bytes" in errors["big"]
