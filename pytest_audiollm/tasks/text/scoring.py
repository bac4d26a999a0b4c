"""Text scoring: a sample's outcome becomes a SampleRecord; a run's records become a metric's GateRecord."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext
from pytest_audiollm.metrics.stats import Aggregate, aggregate, aggregate_corpus
from pytest_audiollm.records import GateRecord, SampleRecord
from pytest_audiollm.tasks.text.settings import context_of

if TYPE_CHECKING:
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.tasks.cases import Case, GateCase
    from pytest_audiollm.tasks.text.predictor import Outcome

__all__ = ["aggregate_records", "evaluate_metric", "score_sample"]

_WHOSE = {"data": "sample", "model": "model", "output": "model output"}


def score_sample(case: Case, outcome: Outcome, metrics: MetricRegistry) -> SampleRecord:
    """The record of one sample. Model failures score as an empty answer; data failures are not scored."""
    sample = case.sample
    record = SampleRecord(
        id=sample.id,
        model=case.model,
        benchmark=case.spec.name,
        owner=case.owner,
        prompt=case.spec.render_prompt(sample.prompt),
        prediction=outcome.prediction,
        references=list(sample.references),
        error=outcome.error,
        error_kind=outcome.error_kind,  # type: ignore[arg-type]
        latency_s=round(outcome.latency_s, 6),
        audio=outcome.audio,
    )
    if sample.audio is not None:  # for the HTML report's players
        record.audio_path = str(Path(sample.audio.path).resolve())
        record.audio_member = sample.audio.member
    if outcome.error:
        record.status = "failed"
        record.message = f"{_WHOSE.get(outcome.error_kind or '', '')} error: {outcome.error}"
    if outcome.error_kind == "data":
        return record
    context = context_of(case.spec)
    for name in case.spec.metrics:
        metric = metrics.get(name)
        if not isinstance(metric, Metric | CorpusMetric) or metric.unavailable(context) is not None:
            continue  # its gate is skipped with the reason
        if isinstance(metric, CorpusMetric):
            record.stats[name] = []  # scored at the gate, from the whole corpus
            continue
        try:
            stats = [float(x) for x in metric.sample_stats(outcome.prediction or "", sample.references, context)]
            record.stats[name] = stats
            record.scores[name] = metric.sample_score(stats)
        except Exception as exc:
            record.score_errors[name] = f"{type(exc).__name__}: {exc}"
    return record


def _score_as_empty_answers(
    metric: Metric | CorpusMetric, name: str, records: list[SampleRecord], context: ScoringContext
) -> None:
    """Model failures the task kind never saw (a ``BaseException`` out of ``predict()``, a worker process that
    died) score as an empty answer, like every other model failure: a model that crashes is not scored on the
    samples it survived only."""
    for r in records:
        if r.error_kind not in ("model", "output") or name in r.stats or name in r.score_errors:
            continue
        if isinstance(metric, CorpusMetric):
            r.stats[name] = []
            continue
        try:
            stats = [float(x) for x in metric.sample_stats("", r.references, context)]
        except Exception as exc:
            r.score_errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        r.stats[name] = stats
        r.scores[name] = metric.sample_score(stats)


def aggregate_records(
    metric: Metric | CorpusMetric,
    name: str,
    records: list[SampleRecord],
    context: ScoringContext,
    *,
    seed: int,
    resamples: int,
) -> tuple[Aggregate, dict[str, float]]:
    """The corpus value and CI of ``metric`` over the scored records, and per-sample scores known only now."""
    scored = [r for r in records if name in r.stats]
    if isinstance(metric, CorpusMetric):
        predictions = [r.prediction or "" for r in scored]
        references = [r.references for r in scored]
        agg = aggregate_corpus(metric, predictions, references, context, seed=seed, resamples=resamples)
        per_sample = metric.sample_scores(predictions, references, context) if scored else []
        return agg, {r.id: float(v) for r, v in zip(scored, per_sample, strict=True)}
    return aggregate(metric, [r.stats[name] for r in scored], seed=seed, resamples=resamples), {}


def _details(metric: Metric | CorpusMetric, name: str, records: list[SampleRecord]) -> dict[str, float]:
    """The metric's extra corpus numbers (``Metric.details``) over the scored records."""
    import numpy as np

    scored = [r.stats[name] for r in records if name in r.stats]
    if not isinstance(metric, Metric) or not scored:
        return {}
    return {k: float(v) for k, v in metric.details(np.asarray(scored, dtype=np.float64).sum(axis=0)).items()}


def evaluate_metric(
    gate: GateCase,
    record: GateRecord,
    records: list[SampleRecord],
    metrics: MetricRegistry,
    *,
    seed: int,
    resamples: int,
) -> GateRecord:
    """Aggregate ``gate.metric`` over the run's records with a bootstrap CI (the core checks the condition)."""
    metric = metrics.get(gate.metric)
    assert isinstance(metric, Metric | CorpusMetric)
    if metric.unavailable(context_of(gate.spec)) is None:
        _score_as_empty_answers(metric, gate.metric, records, context_of(gate.spec))
    scored = [r for r in records if gate.metric in r.stats]
    failures = [r for r in records if gate.metric in r.score_errors]
    record.version = metric.version
    record.higher_is_better = metric.higher_is_better
    record.n = len(scored)
    record.excluded = [r.id for r in records if r.error_kind == "data"]
    record.model_errors = sum(1 for r in records if r.error_kind in ("model", "output"))
    record.bootstrap = {"resamples": resamples, "seed": seed}
    label = f"{gate.metric} of {gate.spec.name} on {gate.model}"
    reason = metric.unavailable(context_of(gate.spec))
    if reason is not None:
        record.skip_reason = f"{label} skipped: {reason}"
        return record
    if failures:
        record.error = f"{gate.metric} could not be computed: {failures[0].score_errors[gate.metric]}"
        return record
    if not scored:
        not_run = [r for r in records if r.error_kind == "setup"]
        if not_run and len(not_run) == len(records):
            why = f"its model did not run ({not_run[0].error})"
        elif record.expected:
            why = f"none of its {record.expected} samples produced a scorable result"
        else:
            why = "no sample of it ran"
        record.skip_reason = f"{label}: {why}"
        return record
    try:
        agg, per_sample = aggregate_records(
            metric, gate.metric, records, context_of(gate.spec), seed=seed, resamples=resamples
        )
    except Exception as exc:
        record.error = f"{gate.metric} failed: {type(exc).__name__}: {exc}"
        return record
    record.value = _clean(agg.value)
    record.ci95 = [_clean(agg.ci95[0]), _clean(agg.ci95[1])]
    record.sample_scores = per_sample
    record.details = _details(metric, gate.metric, records)
    expected = record.expected
    partial = f" on {agg.n} of {expected} samples" if agg.n != expected else f" on {agg.n} samples"
    shown = f"{gate.metric} = {agg.value:.4f} (95% CI {agg.ci95[0]:.4f}..{agg.ci95[1]:.4f}){partial}"
    if record.details:
        shown += " (" + ", ".join(f"{k} {v:.4f}" for k, v in record.details.items()) + ")"
    record.shown = shown
    return record


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 12)
