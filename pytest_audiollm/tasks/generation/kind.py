"""The ``generation`` task kind: generated audio against reference audio (the FAD family)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_audiollm.benchmarks.spec import BenchmarkSpec, KindBlock, parse_data
from pytest_audiollm.errors import SpecError
from pytest_audiollm.metrics.generation.protocol import AudioMetric, FileMetric
from pytest_audiollm.records import Comparison, GateRecord, MetricRecord, RunIdentity, RunRecord, SampleRecord
from pytest_audiollm.tasks.base import (
    ComparePolicy,
    PlannedRun,
    RunContext,
    SubjectInfo,
    TaskKind,
    new_gate_record,
    summarize_stats,
)
from pytest_audiollm.tasks.generation import settings as gen_settings
from pytest_audiollm.tasks.generation.state import GenerationState, list_generated_files, settings_of

if TYPE_CHECKING:
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.settings import Settings
    from pytest_audiollm.tasks.cases import Case, GateCase
    from pytest_audiollm.tasks.generation.run import GenerationRun

__all__ = ["GenerationKind"]

PRESET_VERSIONS = {"clean": "clean-1", "audioldm_eval-0.0.3": "audioldm_eval-0.0.3"}


class GenerationKind(TaskKind):
    """Generated audio (a folder, or a registered generator's outputs) scored against reference audio."""

    name: ClassVar[str] = "generation"
    tasks: ClassVar[tuple[str, ...]] = ("generation",)
    keys: ClassVar[tuple[str, ...]] = ("generation",)
    subjects: ClassVar[tuple[str, ...]] = ("generator",)
    description: ClassVar[str] = "generated audio against references: FAD, FD, KID, KAD, ISc, KL, PSNR, SSIM, LSD, CLAP"

    def __init__(self) -> None:
        self._state: GenerationState | None = None

    def state(self, ctx: RunContext) -> GenerationState:
        if self._state is None:
            device = ctx.settings.device if ctx.settings.device != "auto" else "cpu"
            self._state = GenerationState(device=device)
        return self._state

    # -- specs -------------------------------------------------------------------------------------------

    def parse(self, raw: Mapping[str, Any], spec: BenchmarkSpec, base_dir: Path) -> KindBlock:
        source = spec.source or spec.name
        data = raw["data"]
        folders = gen_settings.parse_generation_data(data, source, base_dir) if isinstance(data, Mapping) else {}
        settings = gen_settings.parse_generation(raw.get("generation"), folders, source)
        if folders:
            return KindBlock(settings, next(iter(settings.systems.values())))
        return KindBlock(settings, dataclasses.replace(parse_data(data, source, base_dir), needs_reference=False))

    def check_metrics(self, spec: BenchmarkSpec, metrics: MetricRegistry) -> None:
        source = spec.source or spec.name
        ours = [e.name for e in metrics if isinstance(e.value, AudioMetric)]
        for name in spec.metrics:
            if name not in metrics or not isinstance(metrics.get(name), AudioMetric):
                raise SpecError(
                    source,
                    "metrics",
                    f"{name!r} is not a generation metric; task generation computes {', '.join(ours)}",
                )
        for name, condition in spec.thresholds.items():
            if condition.bound != "value" and not self.metric_has_ci(spec, name, metrics):
                raise SpecError(source, f"thresholds.{name}", no_ci_message(name, condition.bound))

    def metric_has_ci(self, spec: BenchmarkSpec, metric: str, metrics: MetricRegistry) -> bool:
        found = metrics.get(metric) if metric in metrics else None
        return isinstance(found, FileMetric) or settings_of(spec).bootstrap > 0

    # -- collection -------------------------------------------------------------------------------------

    def plan(self, spec: BenchmarkSpec, subjects: Sequence[SubjectInfo], limit: int | None) -> list[PlannedRun]:
        settings = settings_of(spec)
        if settings.folder_mode:
            return [
                PlannedRun(label, list_generated_files(folder, spec.name, limit), loads_subject=False)
                for label, folder in settings.systems.items()
            ]
        generators = [s for s in subjects if s.kind in self.subjects]
        if not generators:
            return []
        from pytest_audiollm.benchmarks.sources import list_samples

        samples = list_samples(spec.data, spec.name, limit)
        return [PlannedRun(g.name, samples) for g in generators]

    def needs_subject(self, spec: BenchmarkSpec) -> bool:
        return not settings_of(spec).folder_mode

    # -- items ------------------------------------------------------------------------------------------

    def run_sample(self, case: Case, ctx: RunContext) -> SampleRecord:
        from pytest_audiollm.tasks.generation.items import run_generation_sample

        return run_generation_sample(case, ctx, self.state(ctx))

    def _run(self, gate: GateCase, ctx: RunContext) -> GenerationRun:
        return self.state(ctx).run_for(gate.spec, gate.model, gate.owner, ctx.metrics)

    def run_gate(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> GateRecord:
        from pytest_audiollm.tasks.generation.gate import evaluate_generation_metric

        run = self._run(gate, ctx)
        record = new_gate_record(self, gate, ctx.plan.expected(gate.run_key))
        record.scoring = _scoring(run)
        record.scorers = {"preset": PRESET_VERSIONS.get(run.preset.name, run.preset.name)}
        record.data_checksum = run.data_checksum()
        settings = ctx.settings
        return evaluate_generation_metric(gate, record, run, records, seed=settings.seed, resamples=settings.bootstrap)

    # -- baselines --------------------------------------------------------------------------------------

    def identity(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> RunIdentity:
        run = self._run(gate, ctx)
        return RunIdentity(
            benchmark=gate.spec.name,
            benchmark_version=gate.spec.version,
            data_checksum=run.data_checksum(),
            scoring=_scoring(run),
            scorers={"preset": PRESET_VERSIONS.get(run.preset.name, run.preset.name)},
            metric_versions={gate.metric: ctx.metrics.get(gate.metric).version},
        )

    def tolerance(self, spec: BenchmarkSpec | None, metric: str, metrics: MetricRegistry) -> float | None:
        per_file = isinstance(metrics.get(metric), FileMetric) if metric in metrics else False
        default = 0.0 if per_file else None  # distribution metrics are gated only when max_regression names them
        return spec.max_regression.get(metric, default) if spec is not None else default

    def compare(
        self, metric: str, current: RunRecord, baseline: RunRecord, policy: ComparePolicy, metrics: MetricRegistry
    ) -> Comparison:
        from pytest_audiollm.tasks.generation.compare import compare_generation_metric

        found = metrics.get(metric) if metric in metrics else None
        per_file = isinstance(found, FileMetric) or (found is None and any(metric in s.stats for s in current.samples))
        return compare_generation_metric(metric, per_file, current, baseline, policy)

    def summarize(
        self, metric: str, run: RunRecord, settings: Settings, metrics: MetricRegistry
    ) -> MetricRecord | None:
        from pytest_audiollm.tasks.generation.compare import PerFileMean

        found = metrics.get(metric) if metric in metrics else None
        if not isinstance(found, FileMetric):
            return None  # a distribution metric needs the run's embeddings: only its gate computes it
        return summarize_stats(PerFileMean(metric, found.higher_is_better), metric, run, settings, found.version)

    # -- reports ----------------------------------------------------------------------------------------

    def headline(self, run: RunRecord) -> str:
        """``t2a on generated: 11 generated files, 3 left out | preset clean, paired, 11 reference files``."""
        counts = run.counts
        first = next((m.extras for m in run.metrics.values() if m.extras.get("preset")), {})
        refs = next((m.extras["n_reference"] for m in run.metrics.values() if m.extras.get("n_reference")), None)
        details = [f"preset {first['preset']['name']}"] if first else []
        details += [first["mode"]] if first.get("mode") else []
        details += [f"{refs} reference files"] if refs else []
        files, left_out = counts.get("samples", 0), counts.get("errors", 0)
        head = f"{run.benchmark} on {run.model}: {files} generated files, {left_out} left out"
        return head + (f" | {', '.join(details)}" if details else "")

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None


def _scoring(run: GenerationRun) -> dict[str, Any]:
    return {"task": "generation", "preset": run.preset.name, "sample_rate": run.settings.sample_rate}


def no_ci_message(metric: str, bound: str) -> str:
    return (
        f"a gate on {bound} of {metric} needs a confidence interval, and {metric} is a distribution metric, which has "
        f"one only when the benchmark sets generation.bootstrap: N (N resamples of both sets; costs N evaluations "
        f"of the distance): add it, or gate on the value ('{metric}: \"<= X\"')"
    )
