"""Regression gates: a gate item compares its metric with the same metric in a baseline results file.

The core reads the baseline once, picks the run of the gate's benchmark, checks that the two runs measure the
same thing (the task kind's :meth:`~pytest_audiollm.tasks.base.TaskKind.identity`), and lets the kind compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.records import Comparison, MetricRecord, RunRecord, identity_mismatch, read_baseline, select_run

if TYPE_CHECKING:
    from pytest_audiollm.core.state import AudioLLMState
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.records import GateRecord, SampleRecord
    from pytest_audiollm.tasks.base import TaskKind
    from pytest_audiollm.tasks.cases import GateCase
    from pytest_audiollm.tasks.registry import TaskKindRegistry

__all__ = ["compare_runs", "compare_with_baseline", "regression_message"]


def compare_with_baseline(
    state: AudioLLMState, kind: TaskKind, gate: GateCase, record: GateRecord, records: list[SampleRecord]
) -> Comparison | None:
    """The comparison of ``gate.metric`` with the baseline (None without --audiollm-baseline, or when the
    benchmark turns the comparison off with ``max_regression: {metric: off}``).

    The comparison has ``regressed`` (the gate fails), ``error`` (the runs cannot be compared: the gate fails
    too) or ``note`` (nothing to compare with: the gate does not fail for it).
    """
    from pytest_audiollm.tasks.base import ComparePolicy

    path = state.settings.baseline_path
    if not path or (gate.metric in gate.spec.max_regression and gate.spec.max_regression[gate.metric] is None):
        return None
    if state.baseline is None and state.baseline_error is None:
        try:
            state.baseline = read_baseline(path)
        except AudioLLMError as exc:
            state.baseline_error = str(exc)
    if state.baseline is None:
        return Comparison.failure(gate.metric, state.baseline_error or "the baseline could not be read")
    try:
        run = select_run(state.baseline, gate.spec.name, gate.model)
    except AudioLLMError as exc:
        return Comparison.failure(gate.metric, str(exc))
    if run is None:
        return Comparison.nothing(gate.metric, f"the baseline {path} has no run of {gate.spec.name}: not compared")
    ctx = state.context
    assert ctx is not None
    identity = kind.identity(gate, records, ctx)
    mismatch = identity_mismatch(identity, run)
    if mismatch is not None:
        return Comparison.failure(gate.metric, mismatch)
    if gate.metric not in run.metrics:
        return Comparison.nothing(
            gate.metric, f"the baseline's run of {gate.spec.name} has no {gate.metric}: not compared"
        )
    current = RunRecord(
        model=gate.model, benchmark=gate.spec.name, source=gate.owner, kind=kind.name, task=gate.spec.task,
        benchmark_version=gate.spec.version, scoring=dict(identity.scoring), samples=list(records),
        metrics={gate.metric: MetricRecord(record.value, record.ci95, record.n, record.higher_is_better,
                                           record.version, extras=dict(record.extras))},
    )  # fmt: skip
    settings = state.settings
    policy = ComparePolicy(
        seed=settings.seed,
        resamples=settings.bootstrap,
        level=gate.spec.regression_level,
        tolerance=kind.tolerance(gate.spec, gate.metric, state.metrics),
    )
    comparison = kind.compare(gate.metric, current, run, policy, state.metrics)
    comparison.baseline_model, comparison.baseline_fingerprint = run.model, run.model_fingerprint
    return comparison


def regression_message(comparison: Comparison) -> str:
    flips = comparison.right_to_wrong or [str(d.get("id")) for d in comparison.largest_drops]
    shown = ", ".join(str(x) for x in flips[:10]) + (" ..." if len(flips) > 10 else "")
    value, base, delta = comparison.value or 0.0, comparison.baseline_value or 0.0, comparison.delta or 0.0
    if comparison.p_value is None:  # compared by value (generation distribution metrics)
        return (
            f"{comparison.metric} regressed against the baseline: {value:.4f} vs {base:.4f} (change {delta:+.4f}, "
            f"more than max_regression {comparison.tolerance})"
        )
    return (
        f"{comparison.metric} regressed against the baseline: {value:.4f} vs {base:.4f} (change {delta:+.4f}, "
        f"{comparison.test} p = {comparison.p_value:.4g} < {comparison.level}, tolerance {comparison.tolerance})"
        + (f"; worse samples: {shown}" if shown else "")
    )


def compare_runs(
    current: RunRecord,
    baseline: RunRecord,
    kinds: TaskKindRegistry,
    metrics: MetricRegistry,
    *,
    seed: int,
    resamples: int,
    level: float,
    tolerances: Mapping[str, float | None] | None = None,
) -> list[Comparison]:
    """Every metric with a value in both runs compared by the run's task kind, in the current run's order.

    ``tolerances[name]`` overrides the kind's tolerated worsening (None: compared, never ``regressed``). A run of
    a task no kind here runs is compared by value only. Identity is not checked here: see
    :func:`pytest_audiollm.records.identity_mismatch`.
    """
    from pytest_audiollm.metrics.compare import values_only
    from pytest_audiollm.tasks.base import ComparePolicy

    kind = kinds.get(current.kind) if current.kind in kinds else kinds.for_task(current.task)
    out = []
    for name, info in current.metrics.items():
        if name not in baseline.metrics:
            continue
        if kind is None:
            note = f"task {current.task!r} is not run by any task kind here: values compared only"
            out.append(values_only(name, info, baseline.metrics[name], level, None, note))
            continue
        tolerance = kind.tolerance(None, name, metrics)
        if tolerances is not None and name in tolerances:
            tolerance = tolerances[name]
        policy = ComparePolicy(seed=seed, resamples=resamples, level=level, tolerance=tolerance)
        out.append(kind.compare(name, current, baseline, policy, metrics))
    return out
