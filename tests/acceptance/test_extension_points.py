"""A package adds a whole task kind, or a generation metric, through the hooks: no fork of the plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import load_results

from pytest_audiollm import AudioGenerator, AudioModel, ModelOptions
from pytest_audiollm.testing import check_model, make_requests

LOUDNESS_KIND = '''
import math
import numpy as np
import soundfile as sf
import pytest_audiollm
from pytest_audiollm import GateRecord, KindBlock, PlannedRun, SampleRecord, SpecError, TaskKind
from pytest_audiollm.records import Comparison, RunIdentity


class LoudnessKind(TaskKind):
    """Files of a folder should sit near a target level: one item per file, the gate on the mean distance."""

    name = "loudness"
    tasks = ("loudness",)
    keys = ("target_db",)
    subjects = ()
    description = "RMS level of audio files against a target"

    def parse(self, raw, spec, base_dir):
        target = raw.get("target_db")
        if not isinstance(target, (int, float)):
            raise SpecError(spec.source, "target_db", f"expected a number of dB, got {target!r}")
        return KindBlock(settings=float(target))

    def check_metrics(self, spec, metrics):
        if spec.metrics != ("db_error",):
            raise SpecError(spec.source, "metrics", "task loudness computes db_error")

    def plan(self, spec, subjects, limit):
        from pytest_audiollm.benchmarks.sources import list_samples
        return [PlannedRun("files", list_samples(spec.data, spec.name, limit), loads_subject=False)]

    def needs_subject(self, spec):
        return False

    def run_sample(self, case, ctx):
        wave, _ = sf.read(case.sample.audio.path, dtype="float32")
        level = 20 * math.log10(float(np.sqrt(np.mean(wave ** 2))) + 1e-12)
        error = abs(level - case.spec.settings)
        return SampleRecord(id=case.sample.id, model=case.model, benchmark=case.spec.name, owner=case.owner,
                            prediction=f"{level:.1f} dB", scores={"db_error": error}, stats={"db_error": [error, 1.0]})

    def run_gate(self, gate, records, ctx):
        errors = [r.scores["db_error"] for r in records if "db_error" in r.scores]
        record = GateRecord(metric=gate.metric, model=gate.model, benchmark=gate.spec.name, owner=gate.owner,
                            kind=self.name, task=gate.spec.task, higher_is_better=False, n=len(errors))
        if not errors:
            record.skip_reason = "no file"
            return record
        record.value, record.ci95 = sum(errors) / len(errors), [min(errors), max(errors)]
        record.shown = f"db_error = {record.value:.2f} dB over {len(errors)} files"
        return record

    def identity(self, gate, records, ctx):
        return RunIdentity(benchmark=gate.spec.name)

    def compare(self, metric, current, baseline, policy, metrics):
        return Comparison.nothing(metric, "not compared")


@pytest_audiollm.hookimpl
def pytest_audiollm_register_task_kinds(registry):
    registry.add("loudness", LoudnessKind())
'''

PEAK_METRIC = '''
import numpy as np
import pytest_audiollm
from pytest_audiollm import FileMetric


class PeakDb(FileMetric):
    """Peak level of each generated file in dBFS (a generation metric from a plugin)."""
    name = "peak_db"
    higher_is_better = False
    description = "peak level of a generated file, dBFS"
    reference = "20 log10 max |x|"

    def file_score(self, file):
        return float(20 * np.log10(np.max(np.abs(file.clip.wave)) + 1e-12))


@pytest_audiollm.hookimpl
def pytest_audiollm_register_metrics(registry):
    registry.add("peak_db", PeakDb())
'''


def _tones(folder, levels) -> None:  # type: ignore[no-untyped-def]
    folder.mkdir(exist_ok=True)
    t = np.arange(8000) / 16000
    for i, level in enumerate(levels):
        sf.write(folder / f"f{i}.wav", (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)


def test_a_task_kind_from_a_conftest_runs_with_no_fork(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOUDNESS_KIND)
    _tones(pytester.path / "files", [0.1, 0.1, 0.5])
    spec = "name: levels\ntask: loudness\ntarget_db: -23\ndata: {format: folder, path: files}\nmetrics: [db_error]\n"
    pytester.makefile(".yaml", bench_levels=spec + "thresholds: {db_error: '<= 3'}\n")
    result = pytester.runpytest("--audiollm-results", "r.json", "-v")
    result.assert_outcomes(passed=3, failed=1)  # three files; the mean error is above 3 dB
    result.stdout.fnmatch_lines(["*levels[[]files::gate:db_error[]] FAILED*", "*db_error = *FAILS the gate <= 3*"])
    (run,) = load_results(pytester.path / "r.json")["runs"]
    assert run["kind"] == "loudness" and run["task"] == "loudness" and len(run["samples"]) == 3
    listed = pytester.runpytest("--audiollm-list")
    listed.stdout.fnmatch_lines(["task kinds:", "*loudness*tasks loudness*", "*text*tasks captioning, asr*"])
    bad = pytester.makefile(".yaml", bench_levels="name: levels\ntask: loudness\ntarget_db: loud\n"
                            "data: {format: folder, path: files}\nmetrics: [db_error]\n")  # fmt: skip
    assert bad.exists()
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*bench_levels.yaml: key 'target_db': expected a number of dB, got 'loud'*"])


def test_a_generation_metric_from_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PEAK_METRIC)
    _tones(pytester.path / "gen", [0.5, 0.25])
    _tones(pytester.path / "ref", [0.5, 0.5])
    pytester.makefile(
        ".yaml",
        bench_gen="name: peaks\ntask: generation\ndata: {generated: gen, reference: ref}\n"
        "metrics: [peak_db]\nthresholds: {peak_db: 'ci_high <= 0'}\n",
    )
    result = pytester.runpytest("--audiollm-results", "r.json")
    result.assert_outcomes(passed=3)
    (run,) = load_results(pytester.path / "r.json")["runs"]
    peak = run["metrics"]["peak_db"]
    assert peak["value"] == pytest.approx((20 * np.log10(0.5) + 20 * np.log10(0.25)) / 2, abs=0.05)
    assert peak["ci95"] is not None and peak["definition"] == "peak level of a generated file, dBFS"
    listed = pytester.runpytest("--audiollm-list")
    listed.stdout.fnmatch_lines(["generators:*", "metrics (generation):", "*peak_db*lower is better: peak level*"])


def test_list_shows_generators_and_the_builtin_generation_metrics(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest_audiollm\n"
        "class Beep(pytest_audiollm.AudioGenerator):\n"
        "    '''A beep for every prompt.'''\n"
        "    def generate(self, prompts):\n"
        "        return [[0.1] * 1600 for _ in prompts]\n"
        "@pytest_audiollm.hookimpl\n"
        "def pytest_audiollm_register_generators(registry):\n"
        "    registry.add('beep', Beep)\n"
    )
    listed = pytester.runpytest("--audiollm-list")
    assert listed.ret == 0
    text = listed.stdout.str()
    generators, metrics = text.index("generators:"), text.index("metrics (generation):")
    assert "beep" in text[generators : text.index("benchmarks:")] and "beep" not in text[: text.index("generators:")]
    for name in ("fad", "fd", "kid", "kad", "isc", "kl", "kl_sigmoid", "psnr", "ssim", "lsd", "clap_score"):
        assert f"  {name} " in text[metrics:], name


class _Wrong(AudioModel):
    def predict(self, requests):  # type: ignore[no-untyped-def]
        return ["x"] * (len(requests) + 1)


class _Loud(AudioGenerator):
    def generate(self, prompts):  # type: ignore[no-untyped-def]
        return [np.full(1600, 2.0, dtype=np.float32) for _ in prompts]


def test_check_model_reports_protocol_problems() -> None:
    from pytest_audiollm.builtins import _demo

    good = check_model(_demo(ModelOptions(name="demo")), requests=make_requests(3, task="classification"))
    assert good.ok, good.describe()
    wrong = check_model(_Wrong(ModelOptions(name="wrong")))
    assert not wrong.ok and "returned 4 outputs for 3 requests" in wrong.describe()
    loud = check_model(_Loud(ModelOptions(name="loud")))
    assert not loud.ok and "exceeds [-1, 1]" in loud.describe()
    assert json.dumps(loud.problems)
