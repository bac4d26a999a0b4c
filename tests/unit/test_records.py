"""Typed records: their JSON round trip, the shipped JSON Schema, reading older results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_audiollm.records import (
    Comparison,
    GateRecord,
    MetricRecord,
    ResultsDocument,
    RunRecord,
    SampleRecord,
    read_baseline,
    read_results,
)
from pytest_audiollm.records.schema import SCHEMA_PATH, results_schema, validate_results


def _run() -> RunRecord:
    sample = SampleRecord(id="s1", model="m", benchmark="b", owner="o", prediction="dog", references=["dog"],
                          scores={"accuracy": 1.0}, stats={"accuracy": [1.0, 1.0]}, audio={"sha256": "x"})  # fmt: skip
    comparison = Comparison(metric="accuracy", value=1.0, baseline_value=0.5, delta=0.5, higher_is_better=True,
                            p_value=0.5, test="mcnemar", n_paired=1)  # fmt: skip
    metric = MetricRecord(1.0, [1.0, 1.0], 1, True, "1", baseline=comparison, extras={"std": None})
    return RunRecord(model="m", benchmark="b", source="o", kind="text", task="classification",
                     metrics={"accuracy": metric}, samples=[sample],
                     timing={"load_s": 0.0, "warmup_s": 0.0, "predict_s": 0.0, "samples_per_s": None},
                     memory={"budget_bytes": None, "estimate_bytes": None, "peak_bytes": None},
                     counts={"samples": 1, "errors": 0, "not_run": 0, "truncated": 0})  # fmt: skip


def test_records_round_trip_through_json() -> None:
    run = _run()
    again = RunRecord.from_json(json.loads(json.dumps(run.to_json())))
    assert again.to_json() == run.to_json()
    assert again.samples[0].run_key == ("o", "m", "b") and again.metrics["accuracy"].baseline is not None
    gate = GateRecord(metric="wer", model="m", benchmark="b", owner="o", kind="text", task="asr", value=0.1,
                      baseline=Comparison.failure("wer", "the data differ"))  # fmt: skip
    assert GateRecord.from_json(json.loads(json.dumps(gate.to_json()))) == gate
    assert Comparison.failure("wer", "x").to_json() == {"metric": "wer", "error": "x"}


def test_documents_validate_against_the_shipped_schema() -> None:
    document = ResultsDocument(manifest={"plugin_version": "0", "created": "", "python": "3.11", "packages": {},
                                         "device": "cpu", "seed": 0, "command": "pytest"}, runs=[_run()])  # fmt: skip
    validate_results(json.loads(json.dumps(document.to_json())))
    bad = document.to_json()
    bad["runs"][0]["samples"][0]["surprise"] = 1
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        validate_results(bad)
    assert results_schema()["$schema"].endswith("2020-12/schema") and SCHEMA_PATH.name == "results.schema.json"


def test_the_schema_covers_every_record_field() -> None:
    """Every key a record writes is described in the schema (whose objects refuse unknown keys)."""
    defs = results_schema()["$defs"]
    run = _run().to_json()
    assert set(run) <= set(defs["run"]["properties"])
    assert set(run["samples"][0]) <= set(defs["sample"]["properties"])
    assert set(Comparison(metric="x").to_json()) <= set(defs["comparison"]["properties"])
    assert set(ResultsDocument(manifest={}, runs=[]).to_json()) <= set(results_schema()["properties"])


def test_older_results_files_read_and_incomplete_ones_are_refused_as_baselines(tmp_path: Path) -> None:
    older = {"schema": 1, "manifest": {}, "runs": [{"model": "m", "benchmark": "b", "metrics": {}, "samples": [
        {"id": "s", "prediction": "p", "references": [], "scores": {}, "stats": {}}]}]}  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(older))
    document = read_baseline(tmp_path / "old.json")  # no "complete" key: an older file, taken as complete
    assert document.complete and document.runs[0].samples[0].id == "s" and document.runs[0].kind == ""
    (tmp_path / "partial.json").write_text(json.dumps(dict(older, complete=False)))
    assert not read_results(tmp_path / "partial.json").complete
    with pytest.raises(Exception, match="interrupted session"):
        read_baseline(tmp_path / "partial.json")
