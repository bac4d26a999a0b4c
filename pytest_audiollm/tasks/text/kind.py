"""The ``text`` task kind: an audio model answers in text (captioning, asr, classification, qa, species)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_audiollm.benchmarks.spec import BenchmarkSpec, KindBlock
from pytest_audiollm.errors import SpecError
from pytest_audiollm.metrics.protocol import CorpusMetric, Metric
from pytest_audiollm.records import Comparison, GateRecord, MetricRecord, RunIdentity, RunRecord, SampleRecord
from pytest_audiollm.tasks.base import (
    ComparePolicy,
    PlannedRun,
    RunContext,
    SubjectInfo,
    TaskKind,
    new_gate_record,
    rows_checksum,
    summarize_stats,
)
from pytest_audiollm.tasks.text import settings as text_settings

if TYPE_CHECKING:
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.settings import Settings
    from pytest_audiollm.tasks.cases import Case, GateCase
    from pytest_audiollm.tasks.text.predictor import Predictor

__all__ = ["TextKind"]


class TextKind(TaskKind):
    """Audio in, text out: the model's answer is scored against text references."""

    name: ClassVar[str] = "text"
    tasks: ClassVar[tuple[str, ...]] = ("captioning", "asr", "classification", "qa", "species")
    keys: ClassVar[tuple[str, ...]] = text_settings.KEYS
    subjects: ClassVar[tuple[str, ...]] = ("model",)
    description: ClassVar[str] = "an audio model answers in text: captioning, asr, classification, qa, species"

    def __init__(self) -> None:
        self._predictor: Predictor | None = None

    def parse(self, raw: Mapping[str, Any], spec: BenchmarkSpec, base_dir: Path) -> KindBlock:
        return KindBlock(settings=text_settings.parse_text_settings(raw, spec.source or spec.name))

    def check_metrics(self, spec: BenchmarkSpec, metrics: MetricRegistry) -> None:
        for name in spec.metrics:
            if name not in metrics:
                raise SpecError(spec.source or spec.name, "metrics", metrics.unknown_message(name))
            if not isinstance(metrics.get(name), Metric | CorpusMetric):
                raise SpecError(
                    spec.source or spec.name,
                    "metrics",
                    f"{name!r} scores generated audio, not text: task {spec.task} computes text metrics "
                    f"({', '.join(n.name for n in metrics if isinstance(n.value, Metric | CorpusMetric))})",
                )

    def plan(self, spec: BenchmarkSpec, subjects: Sequence[SubjectInfo], limit: int | None) -> list[PlannedRun]:
        from pytest_audiollm.benchmarks.sources import list_samples

        models = [s for s in subjects if s.kind in self.subjects]
        if not models:
            return []
        samples = list_samples(spec.data, spec.name, limit)
        return [PlannedRun(subject.name, samples) for subject in models]

    def run_sample(self, case: Case, ctx: RunContext) -> SampleRecord:
        from pytest_audiollm.tasks.text.predictor import Predictor
        from pytest_audiollm.tasks.text.scoring import score_sample

        if self._predictor is None or self._predictor.plan is not ctx.plan:
            self._predictor = Predictor(ctx.plan, ctx.settings.batch_size)
        outcome = self._predictor.outcome(case, ctx.session(case.model))
        record = score_sample(case, outcome, ctx.metrics)
        record.index = ctx.plan.index(case)
        return record

    def run_gate(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> GateRecord:
        from pytest_audiollm.tasks.text.scoring import evaluate_metric

        record = new_gate_record(self, gate, ctx.plan.expected(gate.run_key))
        record.scoring = text_settings.scoring_record(gate.spec)
        record.scorers = text_settings.scorer_versions(gate.spec)
        record.data_checksum = rows_checksum(records)
        settings = ctx.settings
        return evaluate_metric(gate, record, records, ctx.metrics, seed=settings.seed, resamples=settings.bootstrap)

    def identity(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> RunIdentity:
        metric = ctx.metrics.get(gate.metric)
        return RunIdentity(
            benchmark=gate.spec.name,
            benchmark_version=gate.spec.version,
            data_checksum=rows_checksum(records),
            scoring=text_settings.scoring_record(gate.spec),
            scorers=text_settings.scorer_versions(gate.spec),
            metric_versions={gate.metric: metric.version},
        )

    def compare(
        self, metric: str, current: RunRecord, baseline: RunRecord, policy: ComparePolicy, metrics: MetricRegistry
    ) -> Comparison:
        from pytest_audiollm.metrics.compare import compare_metric, values_only

        found = metrics.get(metric) if metric in metrics else None
        if not isinstance(found, Metric | CorpusMetric):
            note = f"{metric} is not a built-in metric (another plugin's): values compared only, no significance test"
            return values_only(metric, current.metrics[metric], baseline.metrics[metric], policy.level,
                               policy.tolerance, note)  # fmt: skip
        context = text_settings.context_from_scoring(current.scoring, current.task)
        comparison = compare_metric(
            found,
            metric,
            current.samples,
            baseline.samples,
            context,
            seed=policy.seed,
            resamples=policy.resamples,
            level=policy.level,
            tolerance=0.0 if policy.tolerance is None else policy.tolerance,
        )
        if policy.tolerance is None:
            comparison.tolerance, comparison.regressed = None, False
        return comparison

    def summarize(
        self, metric: str, run: RunRecord, settings: Settings, metrics: MetricRegistry
    ) -> MetricRecord | None:
        found = metrics.get(metric) if metric in metrics else None
        if not isinstance(found, Metric):
            return None  # a corpus metric needs its benchmark's settings: only its gate computes it
        return summarize_stats(found, metric, run, settings, found.version)

    def headline(self, run: RunRecord) -> str:
        counts = run.counts
        return (
            f"{run.benchmark} on {run.model}: {counts.get('samples', 0)} samples, {counts.get('errors', 0)} errors"
            + (f", {counts['truncated']} truncated" if counts.get("truncated") else "")
            + (f", {counts['not_run']} not run" if counts.get("not_run") else "")
        )

    def confusion(self, run: RunRecord) -> tuple[list[str], list[list[int]]] | None:
        """Reference label x predicted label counts of a classification run (predictions matched to choices)."""
        from pytest_audiollm.metrics.classification import match_label

        scoring = run.scoring
        choices = [str(c) for c in scoring.get("choices") or []]
        if (run.task or scoring.get("task")) != "classification" or not choices:
            return None
        synonyms = {str(k): tuple(str(x) for x in v) for k, v in (scoring.get("synonyms") or {}).items()}
        labels = [*choices, "(no match)"]
        index = {label: i for i, label in enumerate(labels)}
        counts = [[0] * len(labels) for _ in labels]
        seen = 0
        for sample in run.samples:
            if sample.error_kind in ("data", "setup") or not sample.references:
                continue
            reference = match_label(str(sample.references[0]), choices, synonyms)
            if reference is None:
                continue
            predicted = match_label(str(sample.prediction or ""), choices, synonyms) or "(no match)"
            counts[index[reference]][index[predicted]] += 1
            seen += 1
        return (labels, counts) if seen else None
