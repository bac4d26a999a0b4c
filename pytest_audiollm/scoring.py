"""Scoring: a sample's outcome becomes a result row; a run's rows become a gate verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext
from pytest_audiollm.metrics.stats import Aggregate, aggregate, aggregate_corpus

if TYPE_CHECKING:
    from pytest_audiollm.cases import Case, GateCase
    from pytest_audiollm.predictor import Outcome
    from pytest_audiollm.registry import MetricRegistry

Row = dict[str, Any]


def context_of(case: Case | GateCase) -> ScoringContext:
    spec = case.spec
    return ScoringContext(
        task=spec.task,
        choices=spec.choices,
        synonyms=spec.synonyms,
        text_normalizer=spec.text_normalizer,
        caption_tokenizer=spec.caption_tokenizer,
    )


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
    if sample.audio is not None:  # for the HTML report's players
        row["audio_path"] = str(Path(sample.audio.path).resolve())
        row["audio_member"] = sample.audio.member
    if outcome.error_kind == "data":
        return row
    context = context_of(case)
    for name in case.spec.metrics:
        metric = metrics.get(name)
        if metric.unavailable(context) is not None:
            continue  # its gate is skipped with the reason
        if isinstance(metric, CorpusMetric):
            row["stats"][name] = []  # scored at the gate, from the whole corpus
            continue
        try:
            stats = [float(x) for x in metric.sample_stats(outcome.prediction or "", sample.references, context)]
            row["stats"][name] = stats
            row["scores"][name] = metric.sample_score(stats)
        except Exception as exc:
            row["score_errors"][name] = f"{type(exc).__name__}: {exc}"
    return row


def aggregate_rows(
    metric: Metric | CorpusMetric, name: str, rows: list[Row], context: ScoringContext, *, seed: int, resamples: int
) -> tuple[Aggregate, dict[str, float]]:
    """The corpus value and CI of ``metric`` over the scored rows, and per-sample scores known only now."""
    scored = [r for r in rows if name in r["stats"]]
    if isinstance(metric, CorpusMetric):
        predictions = [r["prediction"] or "" for r in scored]
        references = [r["references"] for r in scored]
        agg = aggregate_corpus(metric, predictions, references, context, seed=seed, resamples=resamples)
        per_sample = metric.sample_scores(predictions, references, context) if scored else []
        return agg, {r["id"]: float(v) for r, v in zip(scored, per_sample, strict=True)}
    return aggregate(metric, [r["stats"][name] for r in scored], seed=seed, resamples=resamples), {}


def metric_details(metric: Metric | CorpusMetric, name: str, rows: list[Row]) -> dict[str, float]:
    """The metric's extra corpus numbers (``Metric.details``) over the scored rows."""
    import numpy as np

    scored = [r["stats"][name] for r in rows if name in r["stats"]]
    if not isinstance(metric, Metric) or not scored:
        return {}
    return {k: float(v) for k, v in metric.details(np.asarray(scored, dtype=np.float64).sum(axis=0)).items()}


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
    reason = metric.unavailable(context_of(gate))
    if reason is not None:
        return GateVerdict(
            result, None, f"{gate.metric} of {gate.spec.name} on {gate.model} skipped: {reason}", skipped=True
        )
    if failures:
        message = f"{gate.metric} could not be computed: {failures[0]['score_errors'][gate.metric]}"
        return GateVerdict(result | {"passed": False}, False, message)
    if not scored:
        not_run = [r for r in rows if r["error_kind"] == "setup"]
        if not_run and len(not_run) == len(rows):
            why = f"its model did not run ({not_run[0]['error']})"
        elif expected:
            why = f"none of its {expected} samples produced a scorable result"
        else:
            why = "no sample of it ran"
        return GateVerdict(result, None, f"{gate.metric} of {gate.spec.name} on {gate.model}: {why}", skipped=True)
    try:
        agg, per_sample = aggregate_rows(metric, gate.metric, rows, context_of(gate), seed=seed, resamples=resamples)
    except Exception as exc:
        return GateVerdict(result | {"passed": False}, False, f"{gate.metric} failed: {type(exc).__name__}: {exc}")
    result |= {"value": _clean(agg.value), "ci95": [_clean(agg.ci95[0]), _clean(agg.ci95[1])]}
    if per_sample:
        result["sample_scores"] = per_sample
    details = metric_details(metric, gate.metric, rows)
    if details:
        result["details"] = details
    partial = f" on {agg.n} of {expected} samples" if agg.n != expected else f" on {agg.n} samples"
    shown = f"{gate.metric} = {agg.value:.4f} (95% CI {agg.ci95[0]:.4f}..{agg.ci95[1]:.4f}){partial}"
    if details:
        shown += " (" + ", ".join(f"{k} {v:.4f}" for k, v in details.items()) + ")"
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
