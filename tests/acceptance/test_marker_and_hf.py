"""Python tests parametrized with @pytest.mark.audiollm, and the hf: adapter through a real pytest session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import TESTS, SineDataset


def test_marked_python_test_gets_samples_and_predictions(sines: SineDataset) -> None:
    sines.pytester.makepyfile(
        test_tones="""
        import pytest

        @pytest.mark.audiollm(benchmark="bench_tones.yaml")
        def test_prediction_is_a_choice(audiollm_sample, audiollm_prediction):
            assert audiollm_prediction in ("low", "high")
            assert audiollm_prediction == audiollm_sample.references[0]
    """
    )
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "test_tones.py", "-v", "--audiollm-batch-size", "3")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["test_tones.py::test_prediction_is_a_choice[[]pitch::low_001[]] PASSED*"])
    batches = [e.split()[2] for e in sines.events() if e.startswith("predict")]
    assert batches == ["3", "3"]


def test_marker_without_benchmark_is_a_usage_error(sines: SineDataset) -> None:
    sines.pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.audiollm(bench="x")
        def test_x(audiollm_prediction):
            pass
    """
    )
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "test_bad.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*use @pytest.mark.audiollm(benchmark='NAME_OR_YAML_PATH'); unknown arguments: bench*"]
    )


@pytest.mark.slow
def test_hf_adapter_runs_a_tiny_qwen2_audio_through_the_plugin(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model_dir = tmp_path / "tiny-qwen2-audio"
    helper = TESTS / "tiny_models.py"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(helper.parent)!r}); "
            f"from tiny_models import build_tiny_qwen2_audio; from pathlib import Path; "
            f"build_tiny_qwen2_audio(Path({str(model_dir)!r}))",
        ],
        check=True,
        env=env,
        timeout=300,
    )
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1")):
        os.environ.setdefault(key, value)
    result = pytester.runpytest_subprocess(
        "--audiollm-model",
        f"hf:{model_dir}",
        "--audiollm-benchmark",
        "demo-classification",
        "--audiollm-limit",
        "4",
        "--audiollm-batch-size",
        "2",
        "--audiollm-model-arg",
        "max_new_tokens=4",
        "--audiollm-results",
        "r.json",
        "--audiollm-memory-budget",
        "1GiB",
        timeout=300,
    )
    # a random tiny model answers gibberish: samples pass (they ran), the accuracy gate fails
    result.assert_outcomes(passed=5, failed=1)
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    assert run["model"] == f"hf:{model_dir}"
    assert run["model_fingerprint"].startswith("hf:")
    assert 0 < run["memory"]["estimate_bytes"] < 2**30
    assert len(run["samples"]) == 4 and all(isinstance(s["prediction"], str) for s in run["samples"])
