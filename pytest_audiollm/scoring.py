"""Scoring: a sample's outcome becomes a result row; a run's rows become a gate verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.stats import aggregate

if TYPE_CHECKING:
    from pytest_audiollm.cases import Case, GateCase
    from pytest_audiollm.predictor import Outcome
    from pytest_audiollm.registry import MetricRegistry

Row = dict[str, Any]


def context_of(case: Case | GateCase) -> ScoringContext:
    return ScoringContext(task=case.spec.task, choices=case.spec.choices, synonyms=case.spec.synonyms)


def score_sample(case: Case, outcome: Outcome, metrics: MetricRegistry) -> Row:
    """The result row of one sample. Model failures score as an empty answer; data failures are not scored."""
    sample = case.sample
    row: Row = {
        "id": sample.id,
        "model": case.model,
        "benchmark": case.spec.name,
        "owner": case.owner,
        "prompt": case.spec.render_prompt(sample.prompt),
        "prediction": outcome.prediction,
        "references": list(sample.references),
        "scores": {},
        "stats": {},
        "score_errors": {},
        "error": outcome.error,
        "error_kind": outcome.error_kind,
        "latency_s": round(outcome.latency_s, 6),
        "audio": outcome.audio,
    }
    if outcome.error_kind == "data":
        return row
    context = context_of(case)
    for name in case.spec.metrics:
        metric = metrics.get(name)
        try:
            stats = [float(x) for x in metric.sample_stats(outcome.prediction or "", sample.references, context)]
            row["stats"][name] = stats
            row["scores"][name] = metric.sample_score(stats)
        except Exception as exc:
            row["score_errors"][name] = f"{type(exc).__name__}: {exc}"
    return row


@dataclass(frozen=True)
class GateVerdict:
    result: dict[str, Any]
    passed: bool | None  # None: nothing to decide (no threshold) or not computable (skip)
    message: str
    skipped: bool = False


def evaluate_gate(
    gate: GateCase, rows: list[Row], expected: int, metrics: MetricRegistry, *, seed: int, resamples: int
) -> GateVerdict:
    """Aggregate ``gate.metric`` over the run's rows with a bootstrap CI and check the gate's condition."""
    metric = metrics.get(gate.metric)
    scored = [r for r in rows if gate.metric in r["stats"]]
    failures = [r for r in rows if gate.metric in r["score_errors"]]
    excluded = [r["id"] for r in rows if r["error_kind"] == "data"]
    result: dict[str, Any] = {
        "metric": gate.metric,
        "version": metric.version,
        "higher_is_better": metric.higher_is_better,
        "value": None,
        "ci95": None,
        "n": len(scored),
        "expected": expected,
        "excluded": excluded,
        "model_errors": sum(1 for r in rows if r["error_kind"] in ("model", "output")),
        "condition": str(gate.condition) if gate.condition else None,
        "bound": gate.condition.bound if gate.condition else None,
        "op": gate.condition.op if gate.condition else None,
        "threshold": gate.condition.threshold if gate.condition else None,
        "passed": None,
        "bootstrap": {"resamples": resamples, "seed": seed},
    }
    if failures:
        message = f"{gate.metric} could not be computed: {failures[0]['score_errors'][gate.metric]}"
        return GateVerdict(result | {"passed": False}, False, message)
    if not scored:
        why = f"none of its {expected} samples produced a scorable result" if expected else "no sample of it ran"
        return GateVerdict(result, None, f"{gate.metric} of {gate.spec.name} on {gate.model}: {why}", skipped=True)
    agg = aggregate(metric, [r["stats"][gate.metric] for r in scored], seed=seed, resamples=resamples)
    result |= {"value": _clean(agg.value), "ci95": [_clean(agg.ci95[0]), _clean(agg.ci95[1])]}
    partial = f" on {agg.n} of {expected} samples" if agg.n != expected else f" on {agg.n} samples"
    shown = f"{gate.metric} = {agg.value:.4f} (95% CI {agg.ci95[0]:.4f}..{agg.ci95[1]:.4f}){partial}"
    if gate.condition is None:
        return GateVerdict(result, None, shown + " (no threshold)")
    passed = gate.condition.holds(agg.value, agg.ci95)
    result["passed"] = passed
    observed = gate.condition.observed(agg.value, agg.ci95)
    verdict = "meets" if passed else "FAILS"
    bound = "" if gate.condition.bound == "value" else f" ({gate.condition.bound} = {observed:.4f})"
    return GateVerdict(result, passed, f"{shown}{bound} {verdict} the gate {gate.condition}")


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 12)
