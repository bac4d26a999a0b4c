"""What sample and gate items do when they run: the one place records become pytest outcomes and properties.

A sample item loads its subject (once per process, under the budget), asks its task kind for a SampleRecord,
checks the benchmark's per-sample thresholds, and reports. A gate item asks the kind for a GateRecord, checks the
gate's condition on it, compares it with the baseline, and reports. Whatever happens (a model raising
``SystemExit``, Ctrl-C, a kind's own bug), a sample item leaves its record.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from pytest_audiollm.core.state import case_key, gate_key, gate_record_key, sample_record_key, state_key
from pytest_audiollm.errors import AudioLLMError, BudgetExceeded, MissingDependency
from pytest_audiollm.records import GateRecord, SampleRecord
from pytest_audiollm.redact import printable

if TYPE_CHECKING:
    from pytest_audiollm.core.state import AudioLLMState
    from pytest_audiollm.tasks.base import RunContext
    from pytest_audiollm.tasks.cases import Case, RunKey

__all__ = ["failed_record", "run_gate_item", "run_sample_item", "setup_failure"]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _skip(reason: str) -> None:
    """Skip the running item, reported at the item's location (the benchmark file), not at this line."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _context(state: AudioLLMState) -> RunContext:
    assert state.context is not None, "pytest_collection_finish sets the run context"
    return state.context


def setup_failure(state: AudioLLMState, case: Case) -> SampleRecord | None:
    """Load the subject of ``case`` (once per process); the record of a sample that cannot run, or None."""
    assert state.pool is not None
    try:
        state.pool.acquire(case.model)
    except AudioLLMError as exc:
        skip = isinstance(exc, MissingDependency) or (isinstance(exc, BudgetExceeded) and not state.settings.strict)
        suffix = " (--audiollm-strict)" if isinstance(exc, BudgetExceeded) and not skip else ""
        if isinstance(exc, BudgetExceeded) and skip:
            state.over_budget.add(case.model)
        return SampleRecord(
            id=case.sample.id, model=case.model, benchmark=case.spec.name, owner=case.owner,
            index=state.plan.index(case), references=list(case.sample.references), error=str(exc),
            error_kind="setup", status="skipped" if skip else "failed", message=f"{exc}{suffix}",
        )  # fmt: skip
    return None


def run_sample_item(item: pytest.Item) -> None:
    state = item.config.stash[state_key]
    case = item.stash[case_key]
    kind = state.kinds.get(case.spec.kind)
    record: SampleRecord | None = None
    try:
        if case.loads_subject:
            record = setup_failure(state, case)
        if record is None:
            record = kind.run_sample(case, _context(state))
    except BaseException as exc:  # the model raised SystemExit, Ctrl-C, a timeout, a kind's bug: keep the row
        if record is None:
            record = failed_record(state, case, f"{type(exc).__name__}: {exc}")
        _keep(item, state, case, record)
        raise
    _keep(item, state, case, record)
    _sample_properties(item, record)
    if record.status == "skipped":
        _skip(printable(record.message or ""))
    if record.status == "failed":  # a model's own message may hold terminal escapes: they are shown, not obeyed
        pytest.fail(printable(record.message or f"{record.error_kind} error: {record.error}"), pytrace=False)
    failed = []
    for name, condition in case.spec.sample_thresholds.items():
        value = record.scores.get(name)
        if value is None or not condition.holds(value, (value, value)):
            failed.append(f"{name} = {value if value is None else _fmt(value)}, expected {condition}")
    if failed:
        pytest.fail(
            f"per-sample threshold: {'; '.join(failed)} (prediction: {record.prediction!r:.200})", pytrace=False
        )


def failed_record(state: AudioLLMState, case: Case, error: str, nodeid: str = "") -> SampleRecord:
    """The record of a sample whose model failed in a way the task kind never saw (a ``BaseException``, or
    its process crashing: the record the controller keeps for it)."""
    record = SampleRecord(
        id=case.sample.id, model=case.model, benchmark=case.spec.name, owner=case.owner,
        index=state.plan.index(case), references=list(case.sample.references),
        error=error, error_kind="model", status="failed", message=f"model error: {error}",
    )  # fmt: skip
    record.kind, record.task, record.version = case.spec.kind, case.spec.task, case.spec.version
    record.source_id, record.nodeid = case.sample.source_id, nodeid
    return record


def _keep(item: pytest.Item, state: AudioLLMState, case: Case, record: SampleRecord) -> None:
    """The record joins its run (what the gates aggregate) and rides on the item's report to the controller;
    under xdist it also goes to the run's journal (what a gate in another process reads if this one dies)."""
    from pytest_audiollm.core.journal import journal_of

    record.kind, record.task, record.version = case.spec.kind, case.spec.task, case.spec.version
    record.source_id = case.sample.source_id
    record.nodeid = item.nodeid
    if state.pool is not None and case.model in state.pool.sessions:
        record.subject_stats = state.pool.sessions[case.model].stats.to_json()
    state.records[case.run_key].append(record)
    item.stash[sample_record_key] = record
    journal = journal_of(item.config)
    if journal is not None:
        journal.append(record)


def _sample_properties(item: pytest.Item, record: SampleRecord) -> None:
    props = item.user_properties
    props += [("audiollm.model", record.model), ("audiollm.benchmark", record.benchmark),
              ("audiollm.sample", record.id)]  # fmt: skip
    if record.prediction is not None:
        props.append(("audiollm.generated" if record.output == "audio" else "audiollm.prediction", record.prediction))
    if record.output == "text":
        props.append(("audiollm.references", " | ".join(record.references)))
    for name, value in record.scores.items():
        props.append((f"audiollm.score.{name}", _fmt(value)))
    props.append(("audiollm.latency_s", _fmt(record.latency_s)))
    truncated = (record.audio or {}).get("truncated_s", 0.0)
    if truncated:
        props.append(("audiollm.truncated_s", _fmt(truncated)))
    if record.error:
        props.append(("audiollm.error", record.error))


def run_gate_item(item: pytest.Item) -> None:
    from pytest_audiollm.core.baseline import compare_with_baseline, regression_message

    state = item.config.stash[state_key]
    gate = item.stash[gate_key]
    kind = state.kinds.get(gate.spec.kind)
    ctx = _context(state)
    records = _run_records(item, state, gate.run_key)
    record = kind.run_gate(gate, records, ctx)
    if state.pool is not None and gate.model in state.pool.sessions:
        record.model_stats = state.pool.sessions[gate.model].stats.to_json()
    # a gate whose samples did not run in this session (-k, --lf, -x) or whose model the memory budget skipped
    # is skipped too; one that cannot be computed although its samples ran fails when it carries a threshold,
    # unless the user allowed it
    allow_skip = state.settings.allow_skipped_gates or not records or gate.model in state.over_budget
    _verdict(gate.condition, record, allow_skip=allow_skip)
    if record.value is not None and not record.skipped and record.error is None:
        record.baseline = compare_with_baseline(state, kind, gate, record, records)
    item.stash[gate_record_key] = record
    for message in record.warnings:
        warnings.warn(message, UserWarning, stacklevel=1)
    _gate_properties(item, record)
    if record.skipped:
        _skip(record.message)
    failures = [record.message] if record.passed is False else []
    comparison = record.baseline
    if comparison is not None and comparison.error:
        failures.append(f"cannot compare with the baseline: {comparison.error}")
    elif comparison is not None and comparison.regressed:
        failures.append(regression_message(comparison))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def _run_records(item: pytest.Item, state: AudioLLMState, key: RunKey) -> list[SampleRecord]:
    """The run's records of this process, and, under xdist, those its other processes journaled (a worker that
    crashed mid-run, the record of the sample it crashed on); in run order."""
    from pytest_audiollm.core.journal import journal_of

    records = state.records.get(key, [])
    journal = journal_of(item.config)
    if journal is None:
        return records
    here = {r.id for r in records}
    others = [r for r in journal.records(key) if r.id not in here]
    if not others:
        return records
    merged = [*records, *others]
    merged.sort(key=lambda r: r.index)
    state.records[key] = merged
    return merged


def _verdict(condition: object, record: GateRecord, *, allow_skip: bool) -> None:
    """Check the gate's condition on the kind's value and CI; the verdict line the item reports.

    A value that cannot be computed (``skip_reason``) skips a gate without a threshold; one with a threshold
    fails unless ``allow_skip`` (the gate was never checked: CI must not go green on it).
    """
    from pytest_audiollm.conditions import Condition

    assert condition is None or isinstance(condition, Condition)
    if condition is not None:
        record.condition, record.bound = str(condition), condition.bound
        record.op, record.threshold = condition.op, condition.threshold
    if record.skip_reason is not None and (condition is None or allow_skip):
        record.skipped, record.passed, record.message = True, None, record.skip_reason
        return
    if record.skip_reason is not None:
        record.passed = False
        reason = record.skip_reason.replace(" skipped: ", ": ", 1).rstrip(". ")
        record.message = (
            f"{reason}. The gate {condition} could not be checked, so it fails; pass "
            "--audiollm-allow-skipped-gates to skip such gates instead (the run then passes without checking them)"
        )
        return
    if record.error is not None:
        record.passed, record.message = False, record.error
        return
    assert record.value is not None, "a kind returns a value, a skip_reason or an error"
    if condition is None:
        record.message = f"{record.shown} (no threshold)"
        return
    value = record.value
    ci = record.ci95
    if condition.bound != "value" and (ci is None or ci[0] is None or ci[1] is None):
        record.passed = False
        record.message = f"{record.shown}: {condition} FAILS: {record.metric} has no confidence interval here"
        return
    low, high = (ci[0], ci[1]) if ci is not None and ci[0] is not None and ci[1] is not None else (value, value)
    record.passed = condition.holds(value, (low, high))
    observed = condition.observed(value, (low, high))
    bound = "" if condition.bound == "value" else f" ({condition.bound} = {observed:.4f})"
    record.message = f"{record.shown}{bound} {'meets' if record.passed else 'FAILS'} the gate {condition}"


def _gate_properties(item: pytest.Item, record: GateRecord) -> None:
    props = item.user_properties
    props += [("audiollm.model", record.model), ("audiollm.benchmark", record.benchmark),
              ("audiollm.metric", record.metric)]  # fmt: skip
    if record.value is not None:
        props.append(("audiollm.value", _fmt(record.value)))
        ci = record.ci95
        if ci is not None and ci[0] is not None and ci[1] is not None:
            props.append(("audiollm.ci95_low", _fmt(ci[0])))
            props.append(("audiollm.ci95_high", _fmt(ci[1])))
    props.append(("audiollm.n", str(record.n)))
    for key, value in record.labels.items():
        props.append((f"audiollm.{key}", value))
    if record.condition is not None:
        props.append(("audiollm.threshold", record.condition))
    comparison = record.baseline
    if comparison is not None and comparison.value is not None and comparison.baseline_value is not None:
        props.append(("audiollm.baseline_value", _fmt(comparison.baseline_value)))
        if comparison.delta is not None:
            props.append(("audiollm.baseline_delta", _fmt(comparison.delta)))
        if comparison.p_value is not None:
            props.append(("audiollm.baseline_p", _fmt(comparison.p_value)))
