"""Regression gates: a gate item compares its metric with the same metric in a baseline results file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError

if TYPE_CHECKING:
    from pytest_audiollm.cases import GateCase
    from pytest_audiollm.scoring import Row
    from pytest_audiollm.state import AudioLLMState


def baseline_comparison(state: AudioLLMState, gate: GateCase, rows: list[Row]) -> dict[str, Any] | None:
    """The comparison of ``gate.metric`` with the baseline (None when no baseline or the check is off).

    The dict has ``regressed`` (the gate fails), or ``error`` (identity mismatch: the gate fails too), or
    ``note`` (nothing to compare with: the gate does not fail for it).
    """
    path = state.settings.baseline_path
    tolerance = gate.spec.max_regression.get(gate.metric, 0.0)
    if not path or (gate.metric in gate.spec.max_regression and tolerance is None):
        return None
    from pytest_audiollm.results.baseline import compare_metric, identity_mismatch
    from pytest_audiollm.results.runs import data_checksum
    from pytest_audiollm.scoring import context_of

    run, early = baseline_run(state, gate)
    if run is None:
        return early
    metric = state.metrics.get(gate.metric)
    current = {
        "benchmark_version": gate.spec.version,
        "data_checksum": data_checksum(rows),
        "metrics": {gate.metric: {"version": metric.version}},
    }
    mismatch = identity_mismatch(current, run)
    if mismatch is not None:
        return {"metric": gate.metric, "error": mismatch}
    comparison = compare_metric(
        metric,
        gate.metric,
        rows,
        run["samples"],
        context_of(gate),
        seed=state.settings.seed,
        resamples=state.settings.bootstrap,
        level=gate.spec.regression_level,
        tolerance=tolerance or 0.0,
    )
    return dict(comparison, baseline_model=run.get("model"), baseline_fingerprint=run.get("model_fingerprint"))


def baseline_run(state: AudioLLMState, gate: GateCase) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The baseline's run of the gate's (benchmark, model), loading the file once; else (None, why not).

    The "why not" is a comparison dict with ``error`` (unreadable file: the gate fails) or ``note`` (no such
    run in the baseline: the gate does not fail for it).
    """
    from pytest_audiollm.results.baseline import load_results, select_run

    path = state.settings.baseline_path
    try:
        if state.baseline is None:
            state.baseline = load_results(str(path))
        run = select_run(state.baseline, gate.spec.name, gate.model)
    except AudioLLMError as exc:
        return None, {"metric": gate.metric, "error": str(exc)}
    if run is None:
        return None, {
            "metric": gate.metric,
            "note": f"the baseline {path} has no run of {gate.spec.name}: not compared",
        }
    return run, {}


def regression_message(comparison: dict[str, Any]) -> str:
    flips = comparison.get("right_to_wrong") or [d.get("id") for d in comparison.get("largest_drops") or []]
    shown = ", ".join(str(x) for x in flips[:10]) + (" ..." if len(flips) > 10 else "")
    if comparison.get("p_value") is None:  # compared by value (generation distribution metrics)
        return (
            f"{comparison['metric']} regressed against the baseline: {comparison['value']:.4f} vs "
            f"{comparison['baseline_value']:.4f} (change {comparison['delta']:+.4f}, more than max_regression "
            f"{comparison['tolerance']})"
        )
    return (
        f"{comparison['metric']} regressed against the baseline: {comparison['value']:.4f} vs "
        f"{comparison['baseline_value']:.4f} (change {comparison['delta']:+.4f}, {comparison['test']} "
        f"p = {comparison['p_value']:.4g} < {comparison['level']}, tolerance {comparison['tolerance']})"
        + (f"; worse samples: {shown}" if shown else "")
    )
