"""Generation runs through the same engine as text runs: CIs, the model session, the data identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from generation_helpers import GENERATOR_CONFTEST, RATE, bench, folders, gates_of, run, tone
from plugin_helpers import failures_section

pytest.importorskip("torch")


def test_per_file_metrics_have_a_bootstrap_ci_that_ci_gates_use(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    """``lsd: "ci_high <= X"`` is decided on the CI's upper bound (it printed [n/a, n/a] PASS before)."""
    folders(pytester.path, n=8)
    bench(pytester.path, ["psnr", "lsd"], thresholds={"lsd": "ci_high <= 99", "psnr": "ci_low >= 99"})
    result, doc = run(pytester, checkpoints)
    result.assert_outcomes(passed=8 + 1, failed=1)
    lsd, psnr = gates_of(doc)["lsd"], gates_of(doc)["psnr"]
    assert lsd["ci95"][0] <= lsd["value"] <= lsd["ci95"][1] and lsd["ci95"][0] < lsd["ci95"][1]
    assert psnr["ci95"][0] < 99 and "ci_low" in result.stdout.str() and "n/a" not in result.stdout.str()


def test_a_ci_gate_on_a_distribution_metric_needs_generation_bootstrap(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    folders(pytester.path, n=8)
    bench(pytester.path, ["fd", "kad"], thresholds={"fd": "ci_high <= 1e9"})
    result, _ = run(pytester, checkpoints)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error: the spec is wrong
    result.stdout.fnmatch_lines(["*bench_t2a.yaml: key 'thresholds.fd': a gate on ci_high of fd needs a confidence*"])
    bench(pytester.path, ["fd", "kad"], generation={"bootstrap": 30}, thresholds={"fd": "ci_high <= 1e9"})
    result, doc = run(pytester, checkpoints)
    result.assert_outcomes(passed=8 + 2)
    for name in ("fd", "kad"):
        value, (low, high) = gates_of(doc)[name]["value"], gates_of(doc)[name]["ci95"]
        assert low <= value <= high and np.isfinite([value, low, high]).all(), name  # shifted by the bias
        bootstrap = gates_of(doc)[name]["bootstrap"]
        assert bootstrap["resamples"] == 30 and bootstrap["seed"] == 0
        assert bootstrap["bias"] > 0, name  # repeated files inflate a resampled distance


def test_a_generator_runs_through_its_model_session(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    """generate() is timed and memory-probed like predict() (its predict peak was 0 before)."""
    import yaml

    pytester.makeconftest(GENERATOR_CONFTEST)
    (pytester.path / "ref").mkdir()
    lines = []
    for i, freq in enumerate([220, 330, 440, 550]):
        sf.write(pytester.path / "ref" / f"r{i}.wav", tone(freq, seed=i), RATE)
        lines.append(json.dumps({"id": f"p{i}", "audio": f"ref/r{i}.wav", "prompt": f"a tone at {freq} hertz"}))
    (pytester.path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    spec = {"name": "t2a-prompts", "task": "generation", "metrics": ["psnr"],
            "data": {"format": "jsonl", "path": "prompts.jsonl"}}  # fmt: skip
    (pytester.path / "bench_prompts.yaml").write_text(yaml.safe_dump(spec))
    result, doc = run(pytester, checkpoints, "--audiollm-model", "chirps", "--audiollm-batch-size", "2")
    result.assert_outcomes(passed=4 + 1)
    (found,) = doc["runs"]
    assert found["kind"] == "generation" and found["model_fingerprint"].endswith("Chirps")
    assert found["memory"]["peak_predict_bytes"] > 0 and found["timing"]["predict_s"] > 0


def test_replaced_reference_audio_makes_the_baseline_incomparable(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    """New reference audio with the old baseline: "cannot compare", as the text path says (REGRESSED before)."""
    _, ref = folders(pytester.path, n=6)
    bench(pytester.path, ["psnr", "fd"])
    first, _ = run(pytester, checkpoints, "--audiollm-save-baseline", "base.json")
    first.assert_outcomes(passed=6 + 2)
    rng = np.random.default_rng(7)
    for path in sorted(ref.iterdir()):
        sf.write(path, (0.3 * rng.standard_normal(int(1.2 * RATE))).astype(np.float32), RATE)
    result, doc = run(pytester, checkpoints, "--audiollm-baseline", "base.json")
    result.assert_outcomes(passed=6, failed=2)
    text = failures_section(result)
    assert text.count("cannot compare with the baseline: the data of t2a differ") == 2 and "REGRESSED" not in text
    assert gates_of(doc)["psnr"]["baseline"]["error"].startswith("the data of t2a differ")
