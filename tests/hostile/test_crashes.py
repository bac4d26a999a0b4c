"""A model that takes its process down, or raises what is not an Exception: the sample fails once, its row stays,
it scores as a wrong answer, and the rest of its run is evaluated."""

from __future__ import annotations

import pytest
from plugin_helpers import MODEL_CONFTEST, SineDataset, load_results, run_by_benchmark

CRASHING = (
    MODEL_CONFTEST
    + "\nimport ctypes, sys\n"
    + "class Segfaulting(PitchModel):\n"
    + "    def predict(self, requests):\n"
    + "        if any(r.sample.id == 'high_002' for r in requests):\n"
    + "            ctypes.string_at(0)  # a null-pointer read: SIGSEGV, as a broken CUDA kernel or extension does\n"
    + "        return super().predict(requests)\n"
    + "class Exiting(PitchModel):\n"
    + "    def predict(self, requests):\n"
    + "        if any(r.sample.id == 'high_002' for r in requests):\n"
    + "            sys.exit(3)\n"
    + "        return super().predict(requests)\n"
    + "@pytest_audiollm.hookimpl(specname='pytest_audiollm_register_models')\n"
    + "def pytest_audiollm_register_crashing(registry):\n"
    + "    registry.add('segfaulting', Segfaulting)\n    registry.add('exiting', Exiting)\n"
)


@pytest.fixture
def crashing(pytester: pytest.Pytester) -> SineDataset:
    sines = SineDataset(pytester)
    pytester.makeconftest(CRASHING)
    return sines


def test_a_segfault_under_xdist_fails_its_sample_once_and_the_run_goes_on(crashing: SineDataset) -> None:
    """Before: the crashed sample was sent to every replacement worker until "maximum crashed workers reached: 8",
    and the rest of the run never ran nor reached the results."""
    result = crashing.pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--audiollm-model", "segfaulting", "--audiollm-results", "r.json"
    )
    result.assert_outcomes(passed=5 + 2, failed=1)  # 5 samples and both gate items pass
    text = result.stdout.str()
    assert "maximum crashed workers" not in text
    result.stdout.fnmatch_lines(["*crashed while running*high_002*recorded as failed*not run again*"])
    run = run_by_benchmark(load_results(crashing.root / "r.json"), "tones")
    rows = {s["id"]: s for s in run["samples"]}
    assert sorted(rows) == sorted(t[0] for t in SineDataset.TONES)  # every sample, once
    assert "died while running this sample" in rows["high_002"]["error"]
    assert rows["high_002"]["error_kind"] == "model" and run["counts"]["errors"] == 1
    accuracy = run["metrics"]["accuracy"]
    assert accuracy["n"] == 6 and accuracy["value"] == pytest.approx(5 / 6)  # the crash is a wrong answer


def test_a_model_calling_sys_exit_fails_its_sample_and_scores_it_wrong(crashing: SineDataset) -> None:
    """Before: the row vanished (errors 0) and accuracy was 1.0 over the samples that survived."""
    result = crashing.pytester.runpytest("--audiollm-model", "exiting", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=5 + 2, failed=1)
    run = run_by_benchmark(load_results(crashing.root / "r.json"), "tones")
    rows = {s["id"]: s for s in run["samples"]}
    assert len(rows) == 6 and rows["high_002"]["error"] == "SystemExit: 3" and run["counts"]["errors"] == 1
    assert run["metrics"]["accuracy"]["n"] == 6 and run["metrics"]["accuracy"]["value"] == pytest.approx(5 / 6)


def test_terminal_escapes_in_a_models_error_are_shown_not_obeyed(pytester: pytest.Pytester) -> None:
    """Any model's exception text reaches the terminal through the item's failure (not only openai:'s)."""
    sines = SineDataset(pytester)
    pytester.makeconftest(
        MODEL_CONFTEST
        + "\nclass Shouting(PitchModel):\n"
        + "    def predict(self, requests):\n"
        + "        raise RuntimeError('\\x1b[2J\\x1b[31mPWNED\\x07')\n"
        + "@pytest_audiollm.hookimpl(specname='pytest_audiollm_register_models')\n"
        + "def pytest_audiollm_register_shouting(registry):\n"
        + "    registry.add('shouting', Shouting)\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--audiollm-model", "shouting", "--color=no")
    text = result.stdout.str() + result.stderr.str()
    assert "PWNED" in text and "\x1b" not in text and "\x07" not in text
    result.stdout.fnmatch_lines([r"*\x1b[[]2J\x1b[[]31mPWNED\x07*"])
    assert len(sines.TONES) == result.parseoutcomes()["failed"] - 1  # every sample, and the accuracy gate


def test_when_xdist_gives_up_the_session_is_incomplete(crashing: SineDataset) -> None:
    """With no restarts left xdist stops the run: what ran goes to NAME.incomplete.json, never over good files."""
    good = crashing.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    good.assert_outcomes(passed=8)
    before = (crashing.root / "r.json").read_bytes()
    result = crashing.pytester.runpytest_subprocess(
        "-n", "1", "--max-worker-restart", "0", "-p", "no:cacheprovider", "--audiollm-model", "segfaulting",
        "--audiollm-results", "r.json",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["*worker gw0 crashed and worker restarting disabled*"])
    assert (crashing.root / "r.json").read_bytes() == before
    partial = load_results(crashing.root / "r.incomplete.json")
    assert partial["complete"] is False
