"""A gate with a threshold that cannot be computed fails: CI must never go green on a gate nobody checked."""

from __future__ import annotations

from typing import Any

import pytest
from generation_helpers import bench, folders, gates_of, run
from plugin_helpers import SineDataset


def gate_verdicts(doc: dict[str, Any]) -> dict[str, bool | None]:
    (only,) = doc["runs"]
    return {gate["metric"]: gate["passed"] for gate in only["gates"]}


def test_a_missing_backbone_checkpoint_fails_a_gate_with_a_threshold(pytester: pytest.Pytester) -> None:
    """Before: ``fad <= 5`` with no VGGish checkpoint was skipped and the run exited 0."""
    folders(pytester.path, n=4)
    bench(pytester.path, ["psnr", "fad"], thresholds={"fad": "<= 5.0", "psnr": ">= 0"})
    missing = {"AUDIOLLM_VGGISH_CHECKPOINT": str(pytester.path / "nowhere" / "vggish-10086976.pth")}
    result, doc = run(pytester, missing)
    result.assert_outcomes(passed=4 + 1, failed=1)
    result.stdout.fnmatch_lines(
        ["*fad*python -m pytest_audiollm download vggish*could not be checked, so it fails; pass "
         "--audiollm-allow-skipped-gates*"]
    )  # fmt: skip
    result.stdout.fnmatch_lines(["fad of t2a on generated: the VGGish *"])  # not "skipped:": it fails
    assert gates_of(doc)["fad"]["value"] is None and gate_verdicts(doc)["fad"] is False

    allowed, doc = run(pytester, missing, "--audiollm-allow-skipped-gates")
    allowed.assert_outcomes(passed=4 + 1, skipped=1)
    assert allowed.ret == pytest.ExitCode.OK
    assert gate_verdicts(doc)["fad"] is None


def test_a_metric_without_a_threshold_is_only_reported(pytester: pytest.Pytester) -> None:
    folders(pytester.path, n=4)
    bench(pytester.path, ["psnr", "fad"])
    result, _ = run(pytester, {"AUDIOLLM_VGGISH_CHECKPOINT": str(pytester.path / "none.pth")})
    result.assert_outcomes(passed=4 + 1, skipped=1)


def test_a_gate_whose_samples_were_deselected_still_skips(sines: SineDataset) -> None:
    """``-k gate`` selects the gates alone: nothing of the run ran here, which is the user's choice, not a failure."""
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "-k", "gate")
    result.assert_outcomes(skipped=2)
