"""Runs: the RunRecords of the results file, built on the controller from the sample and gate records.

Under xdist the controller does not collect, so everything a run needs travels on the items' reports: the sample
records (with the subject's timing and memory at that item), the gate records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_audiollm.records import GateRecord, GateSummary, MetricRecord, RunRecord, SampleRecord, SubjectStats
from pytest_audiollm.tasks.cases import RunKey

if TYPE_CHECKING:
    from pytest_audiollm.core.state import AudioLLMState
    from pytest_audiollm.tasks.base import TaskKind

__all__ = ["build_runs"]


def build_runs(
    state: AudioLLMState,
    samples: dict[RunKey, dict[str, SampleRecord]],
    gates: dict[RunKey, dict[str, GateRecord]],
) -> list[RunRecord]:
    """One RunRecord per (owner, model, benchmark) that reported anything, sorted by that key."""
    return [_run(state, key, samples.get(key, {}), gates.get(key, {})) for key in sorted(set(samples) | set(gates))]


def _run(
    state: AudioLLMState, key: RunKey, by_id: dict[str, SampleRecord], run_gates: dict[str, GateRecord]
) -> RunRecord:
    owner, model, benchmark = key
    records = sorted(by_id.values(), key=lambda r: (r.index, r.id))
    first_gate = next(iter(run_gates.values()), None)
    first = records[0] if records else None
    kind_name = first_gate.kind if first_gate is not None else (first.kind if first is not None else "")
    kind = state.kinds.get(kind_name) if kind_name in state.kinds else None
    run = RunRecord(
        model=model,
        benchmark=benchmark,
        source=owner,
        kind=kind_name,
        task=first_gate.task if first_gate is not None else (first.task if first is not None else ""),
        benchmark_version=first_gate.benchmark_version if first_gate is not None else (first.version if first else ""),
        scoring=dict(first_gate.scoring) if first_gate is not None else {},
        scorers=dict(first_gate.scorers) if first_gate is not None else {},
        samples=records,
    )
    for name, gate in run_gates.items():
        run.metrics[name] = MetricRecord(
            value=gate.value,
            ci95=gate.ci95,
            n=gate.n,
            higher_is_better=gate.higher_is_better,
            version=gate.version,
            details=dict(gate.details),
            baseline=gate.baseline,
            note=gate.message if gate.value is None and gate.message else None,
            extras=dict(gate.extras),
        )
    if kind is not None:
        for name in sorted({m for r in records for m in r.stats} - set(run.metrics)):
            summarized = kind.summarize(name, run, state.settings, state.metrics)  # its gate item did not run
            if summarized is not None:
                run.metrics[name] = summarized
    for gate in run_gates.values():  # per-sample scores of corpus metrics (CIDEr-D) are known at the gate
        for record in records:
            if record.id in gate.sample_scores:
                record.scores[gate.metric] = gate.sample_scores[record.id]
    run.data_checksum = next((g.data_checksum for g in run_gates.values() if g.data_checksum), "") or _checksum(
        kind, records
    )
    run.gates = [
        GateSummary(g.metric, g.bound or "value", g.op or "", g.threshold or 0.0, g.passed, g.value)
        for g in run_gates.values()
        if g.condition
    ]
    measured = _subject_stats(run_gates, records)
    stats = measured or SubjectStats()
    run.model_fingerprint = stats.fingerprint
    predicted = [r for r in records if r.prediction is not None]
    predict_s = sum(float(r.latency_s or 0.0) for r in predicted)
    run.timing = {
        "load_s": round(stats.load_s, 6),
        "warmup_s": round(stats.warmup_s, 6),
        "predict_s": round(predict_s, 6),
        "samples_per_s": round(len(predicted) / predict_s, 3) if predict_s > 0 else None,
    }
    keys = ("budget_bytes", "estimate_bytes", "peak_bytes", "peak_load_bytes", "peak_warmup_bytes",
            "peak_predict_bytes", "device", "placement", "adapter_digest")  # fmt: skip
    run.memory = {k: getattr(measured, k) if measured is not None else None for k in keys}
    run.counts = {
        "samples": len(records),
        "errors": sum(1 for r in records if r.error_kind in ("data", "model", "output")),
        "not_run": sum(1 for r in records if r.error_kind == "setup"),
        "truncated": sum(1 for r in records if (r.audio or {}).get("truncated_s")),
    }
    return run


def _checksum(kind: TaskKind | None, records: list[SampleRecord]) -> str:
    from pytest_audiollm.tasks.base import rows_checksum

    return kind.data_checksum(records) if kind is not None else rows_checksum(records)


def _subject_stats(run_gates: dict[str, GateRecord], records: list[SampleRecord]) -> SubjectStats | None:
    """The subject's timing and memory: from a gate (measured after every sample), else the last sample's;
    None when nothing was loaded for the run (a folder of generated audio)."""
    for gate in run_gates.values():
        if gate.model_stats:
            return SubjectStats.from_json(gate.model_stats)
    measured = [r.subject_stats for r in records if r.subject_stats]
    return SubjectStats.from_json(measured[-1]) if measured else None
