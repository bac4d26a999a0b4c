"""Baseline comparison: results files from real runs, McNemar and paired bootstrap tests, identity checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plugin_helpers import SineDataset

from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.core.baseline import compare_runs as compare_records
from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.metrics.asr import WordErrorRate
from pytest_audiollm.metrics.cider import CiderD
from pytest_audiollm.metrics.compare import compare_metric as compare_records_metric
from pytest_audiollm.metrics.compare import mcnemar_p
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.records import (
    ResultsDocument,
    RunIdentity,
    RunRecord,
    SampleRecord,
    identity_mismatch,
    read_results,
    select_run,
)

METRICS, KINDS = builtin_registries()


def compare_runs(current: RunRecord, baseline: RunRecord, **kwargs: Any) -> list[dict[str, Any]]:
    return [c.to_json() for c in compare_records(current, baseline, KINDS, METRICS, **kwargs)]


def compare_metric(
    metric: Any,
    name: str,
    current: list[dict[str, Any]],
    baseline: list[dict[str, Any]],
    context: ScoringContext,
    **kwargs: Any,
) -> dict[str, Any]:
    def records(rows: list[dict[str, Any]]) -> list[SampleRecord]:
        return [SampleRecord.from_json({"model": "m", "benchmark": "b", "owner": "o", **row}) for row in rows]

    return compare_records_metric(metric, name, records(current), records(baseline), context, **kwargs).to_json()


def document(raw: dict[str, Any]) -> ResultsDocument:
    return ResultsDocument(manifest={}, runs=[RunRecord.from_json(run) for run in raw["runs"]])


TONES_30 = [(f"low_{i:03d}", 200.0 + 20 * i, "low") for i in range(1, 16)] + [
    (f"high_{i:03d}", 1500.0 + 100 * i, "high") for i in range(1, 16)
]


def run_to(sines: SineDataset, model: str, out: str) -> ResultsDocument:
    sines.pytester.runpytest("--audiollm-model", model, "--audiollm-results", out, "-q")
    return read_results(sines.root / out)


def test_pitch_vs_deaf_regresses_with_mcnemar_and_same_model_does_not(sines: SineDataset) -> None:
    sines.write(tones=TONES_30)
    pitch = run_to(sines, "pitch", "a.json")
    deaf = run_to(sines, "deaf", "b.json")
    base = select_run(pitch, "tones", "deaf")  # the only run of the benchmark
    assert base is not None and base.model == "pitch"
    current = select_run(deaf, "tones", "deaf")
    assert current is not None
    assert identity_mismatch(RunIdentity.of(current), base) is None
    results = {r["metric"]: r for r in compare_runs(current, base, seed=0, resamples=200, level=0.05,
                                                     tolerances={"macro_f1": None})}  # fmt: skip
    acc = results["accuracy"]
    assert acc["test"] == "mcnemar" and acc["regressed"] is True
    assert acc["value"] == 0.5 and acc["baseline_value"] == 1.0 and acc["delta"] == -0.5
    assert acc["p_value"] == pytest.approx(0.5**15) and acc["n_paired"] == 30
    assert sorted(acc["right_to_wrong"]) == sorted(i for i, _, label in TONES_30 if label == "high")
    assert acc["wrong_to_right"] == [] and acc["only_in_current"] == [] and acc["only_in_baseline"] == []
    f1 = results["macro_f1"]
    assert f1["test"] == "paired_bootstrap" and f1["p_value"] < 0.05
    assert f1["tolerance"] is None and f1["regressed"] is False  # check turned off
    json.dumps(results, allow_nan=False)

    same = compare_runs(base, base, seed=0, resamples=200, level=0.05, tolerances={})
    for result in same:
        assert result["p_value"] == 1.0 and result["regressed"] is False and result["delta"] == 0.0
        assert result["right_to_wrong"] == [] and result["largest_drops"] == []

    # a tolerance larger than the drop: worse, significant, but not a regression
    lenient = compare_runs(current, base, seed=0, resamples=200, level=0.05, tolerances={"accuracy": 0.6})
    assert next(r for r in lenient if r["metric"] == "accuracy")["regressed"] is False


def test_six_samples_cannot_reach_significance(sines: SineDataset) -> None:
    pitch = run_to(sines, "pitch", "a.json").runs[0]
    deaf = run_to(sines, "deaf", "b.json").runs[0]
    acc = next(r for r in compare_runs(deaf, pitch, seed=0, resamples=100, level=0.05, tolerances={})
               if r["metric"] == "accuracy")  # fmt: skip
    assert acc["p_value"] == 0.125 and acc["regressed"] is False and len(acc["right_to_wrong"]) == 3


def test_different_data_or_versions_is_an_error_not_a_comparison(sines: SineDataset) -> None:
    import dataclasses

    base = run_to(sines, "pitch", "a.json").runs[0]
    tones = list(SineDataset.TONES)
    tones[0] = ("low_001", 250.0, "low")  # other audio, same ids
    sines.write(tones=tones)
    current = RunIdentity.of(run_to(sines, "pitch", "c.json").runs[0])
    message = identity_mismatch(current, base)
    assert message is not None and "data checksum" in message and "\n" not in message
    assert not message.startswith("cannot compare")  # the gate says that once, in front of it
    same_data = dataclasses.replace(current, data_checksum=base.data_checksum)
    assert identity_mismatch(same_data, base) is None
    message = identity_mismatch(dataclasses.replace(same_data, benchmark_version="2"), base)
    assert message is not None and "version '2'" in message
    like = RunIdentity("tones", "1", base.data_checksum, metric_versions={"accuracy": "9"})
    message = identity_mismatch(like, base)
    assert message is not None and "metric 'accuracy'" in message
    message = identity_mismatch(dataclasses.replace(same_data, scorers={"text_normalizer": "basic-2"}), base)
    assert message is not None and "text_normalizer" in message and "basic-1" in message


def test_load_results_and_select_run_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioLLMError, match="does not exist"):
        read_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AudioLLMError, match="not valid JSON"):
        read_results(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(AudioLLMError, match="not a pytest-audiollm results file"):
        read_results(tmp_path / "other.json")
    (tmp_path / "v2.json").write_text('{"schema": 2, "runs": []}')
    with pytest.raises(AudioLLMError, match="schema 2"):
        read_results(tmp_path / "v2.json")
    doc = document(
        {"runs": [{"benchmark": "b", "model": "x"}, {"benchmark": "b", "model": "y"}, {"benchmark": "c", "model": "x"}]}
    )
    found = select_run(doc, "b", "y")
    assert found is not None and (found.benchmark, found.model) == ("b", "y")
    found = select_run(doc, "c", "z")
    assert found is not None and (found.benchmark, found.model) == ("c", "x")
    assert select_run(doc, "d", "x") is None
    with pytest.raises(AudioLLMError, match="one run per benchmark"):
        select_run(doc, "b", "z")


def test_mcnemar_exact_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 0) == 0.125
    assert mcnemar_p(0, 3) == 1.0
    assert mcnemar_p(5, 5) == pytest.approx(638 / 1024)


def paired_p(cur: np.ndarray, base: np.ndarray, corpus: Any, sign: float, seed: int, resamples: int) -> float:
    """The documented p-value, computed independently: the same multinomial weights on both sides."""
    n = len(cur)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    delta = sign * (corpus(counts, cur) - corpus(counts, base))
    delta = delta[np.isfinite(delta)]
    return float((1 + (delta >= 0).sum()) / (1 + delta.size))


def test_paired_bootstrap_on_wer() -> None:
    wer = WordErrorRate()
    context = ScoringContext(task="asr", text_normalizer="basic")
    refs = [f"the cat number {i} sat on the mat" for i in range(20)]
    base_preds = list(refs)
    cur_preds = [r.replace("sat ", "") if i % 2 else r for i, r in enumerate(refs)]
    cur_preds[0] = refs[0] + " today"

    def samples(preds: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": f"u{i}", "prediction": p, "references": [r], "stats": {"wer": wer.sample_stats(p, [r], context)}}
            for i, (p, r) in enumerate(zip(preds, refs, strict=True))
        ]

    current, baseline = samples(cur_preds), samples(base_preds)
    baseline.append({"id": "extra", "prediction": "x", "references": ["x"], "stats": {"wer": [0.0, 1.0]}})
    result = compare_metric(wer, "wer", current, baseline, context, seed=3, resamples=500)
    assert result["test"] == "paired_bootstrap" and result["n_paired"] == 20 and result["only_in_baseline"] == ["extra"]
    assert result["value"] == pytest.approx(11 / 160) and result["baseline_value"] == 0.0
    cur_m = np.array([s["stats"]["wer"] for s in current])
    base_m = np.array([s["stats"]["wer"] for s in baseline[:20]])
    expected = paired_p(cur_m, base_m, lambda w, m: (w @ m)[:, 0] / (w @ m)[:, 1], -1.0, 3, 500)
    assert result["p_value"] == pytest.approx(expected) and result["p_value"] < 0.01
    assert result["regressed"] is True
    assert result["largest_drops"][0] == {"id": "u0", "value": 1 / 8, "baseline_value": 0.0, "delta": 1 / 8}
    assert len(result["largest_drops"]) == 10 and result["largest_rises"] == []
    improved = compare_metric(wer, "wer", baseline, current, context, seed=3, resamples=500)
    assert improved["regressed"] is False and improved["p_value"] > 0.9
    assert improved["largest_rises"][0]["id"] == "u0"
    not_worse = compare_metric(wer, "wer", current, baseline, context, seed=3, resamples=500, tolerance=0.1)
    assert not_worse["regressed"] is False


def test_paired_bootstrap_on_cider_d_corpus_metric() -> None:
    cider = CiderD()
    context = ScoringContext(task="captioning", caption_tokenizer="basic")
    refs = [[f"a dog barks {i} times near the door", f"barking dog number {i} at a door"] for i in range(12)]
    base_preds = [r[0] for r in refs]
    cur_preds = [("a bird sings" if i < 6 else r[0]) for i, r in enumerate(refs)]

    def samples(preds: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": f"c{i:02d}", "prediction": p, "references": r, "stats": {"cider_d": []}}
            for i, (p, r) in enumerate(zip(preds, refs, strict=True))
        ]

    result = compare_metric(cider, "cider_d", samples(cur_preds), samples(base_preds), context, seed=0, resamples=300)
    ones = np.ones((1, 12))
    assert result["value"] == pytest.approx(float(cider.corpus_scores(cur_preds, refs, context, ones)[0]))
    assert result["baseline_value"] == pytest.approx(float(cider.corpus_scores(base_preds, refs, context, ones)[0]))
    assert result["test"] == "paired_bootstrap" and result["delta"] < 0 and result["regressed"] is True

    def corpus(weights: np.ndarray, preds: list[str]) -> np.ndarray:
        return cider.corpus_scores(preds, refs, context, weights)

    expected = paired_p(cur_preds, base_preds, corpus, 1.0, 0, 300)  # type: ignore[arg-type]
    assert result["p_value"] == pytest.approx(expected) and result["p_value"] < 0.05
    assert sorted(d["id"] for d in result["largest_drops"]) == [f"c{i:02d}" for i in range(6)]
    same = compare_metric(cider, "cider_d", samples(base_preds), samples(base_preds), context, seed=0, resamples=300)
    assert same["p_value"] == 1.0 and same["regressed"] is False and same["largest_drops"] == []


def test_metrics_of_other_plugins_are_compared_by_value_only() -> None:
    raw = {"model": "m", "benchmark": "b", "kind": "text", "task": "classification",
           "scoring": {"task": "classification"}, "metrics": {"mine": {"value": 0.5, "higher_is_better": True}},
           "samples": []}  # fmt: skip
    run = RunRecord.from_json(raw)
    base = RunRecord.from_json(dict(raw, metrics={"mine": {"value": 0.7, "higher_is_better": True}}))
    [result] = compare_runs(run, base, seed=0, resamples=10, level=0.05, tolerances={})
    assert result["test"] is None and result["p_value"] is None and result["regressed"] is False
    assert result["delta"] == pytest.approx(-0.2) and "no significance test" in result["note"]
