"""The TaskKind protocol: the seam every kind of evaluation plugs into.

A task kind (``text`` for captioning, ASR, classification, QA and species; ``generation`` for the FAD family;
more from plugins through ``pytest_audiollm_register_task_kinds``):

- reads its own YAML keys (:meth:`TaskKind.parse`) and checks the spec's metrics are of its family;
- plans the runs of a spec: which selected subjects it evaluates and on which samples (:meth:`TaskKind.plan`);
- runs one sample item and one gate item, returning typed records (:meth:`run_sample`, :meth:`run_gate`);
- states what must not change for a baseline to stay comparable (:meth:`identity`), compares a metric of a
  run with a baseline run (:meth:`compare`) and summarises a metric whose gate item did not run;
- describes a run's headline for the reports (:meth:`headline`).

Only the core (``pytest_audiollm.core``) turns records into pytest outcomes, JUnit properties and results rows;
task kinds never raise pytest outcomes and never test each other's task names.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_audiollm.benchmarks.spec import BenchmarkSpec, KindBlock

if TYPE_CHECKING:
    from pytest_audiollm.metrics.protocol import Metric
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.models.session import ModelPool, ModelSession
    from pytest_audiollm.records import Comparison, GateRecord, MetricRecord, RunIdentity, RunRecord, SampleRecord
    from pytest_audiollm.sample import Sample
    from pytest_audiollm.settings import Settings
    from pytest_audiollm.tasks.cases import Case, GateCase, RunKey, RunPlan

__all__ = [
    "ComparePolicy", "PlannedRun", "RunContext", "SubjectInfo", "TaskKind", "new_gate_record", "rows_checksum",
    "summarize_stats",
]  # fmt: skip


@dataclass(frozen=True)
class SubjectInfo:
    """A subject selected with ``--audiollm-model``: its name and kind (``model``, ``generator``, ...)."""

    name: str
    kind: str


@dataclass
class PlannedRun:
    """One run a task kind plans for a spec: a subject (or a generated folder's label) and its samples."""

    subject: str
    samples: list[Sample]
    loads_subject: bool = True  # False: nothing to load (a folder of generated audio)


@dataclass
class RunContext:
    """What the core gives a task kind while items run (one per process)."""

    settings: Settings
    metrics: MetricRegistry
    plan: RunPlan
    pool: ModelPool
    records: Mapping[RunKey, list[SampleRecord]] = field(default_factory=dict)

    def session(self, subject: str) -> ModelSession:
        """The subject's session (loaded by the core before the kind runs a sample item of it)."""
        return self.pool.sessions[subject]


@dataclass(frozen=True)
class ComparePolicy:
    """How a metric is compared with a baseline: bootstrap settings, test level, tolerated worsening."""

    seed: int
    resamples: int
    level: float
    tolerance: float | None  # None: compared but never gated (reported only)


class TaskKind(abc.ABC):
    """A kind of evaluation. Register an instance with ``pytest_audiollm_register_task_kinds``."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()  # the values of ``task:`` it runs
    keys: ClassVar[tuple[str, ...]] = ()  # the top-level YAML keys it reads besides the common ones
    subjects: ClassVar[tuple[str, ...]] = ("model",)  # the kinds of subject it evaluates
    description: ClassVar[str] = ""

    # -- specs -------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def parse(self, raw: Mapping[str, Any], spec: BenchmarkSpec, base_dir: Path) -> KindBlock:
        """Read this kind's keys of ``raw`` (the spec's common keys are in ``spec``); raise SpecError."""

    @abc.abstractmethod
    def check_metrics(self, spec: BenchmarkSpec, metrics: MetricRegistry) -> None:
        """Raise SpecError when a metric of ``spec`` is unknown or not of this kind's family."""

    def metric_has_ci(self, spec: BenchmarkSpec, metric: str, metrics: MetricRegistry) -> bool:
        """Whether ``metric`` gets a confidence interval in ``spec`` (gates on ci_low / ci_high need one)."""
        return True

    # -- collection -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def plan(self, spec: BenchmarkSpec, subjects: Sequence[SubjectInfo], limit: int | None) -> list[PlannedRun]:
        """The runs of ``spec``: for each selected subject it evaluates (or each generated folder), the samples."""

    def needs_subject(self, spec: BenchmarkSpec) -> bool:
        """Whether ``spec`` evaluates a selected subject (False: it runs without --audiollm-model)."""
        return True

    # -- items ------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def run_sample(self, case: Case, ctx: RunContext) -> SampleRecord:
        """Run one sample item (its subject is loaded already when ``case.loads_subject``)."""

    @abc.abstractmethod
    def run_gate(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> GateRecord:
        """Compute ``gate.metric`` over the run's sample records (value, CI, n; skip_reason or error if not)."""

    # -- baselines --------------------------------------------------------------------------------------

    @abc.abstractmethod
    def identity(self, gate: GateCase, records: list[SampleRecord], ctx: RunContext) -> RunIdentity:
        """What must be equal in a baseline run for ``gate.metric`` to be comparable with it."""

    def tolerance(self, spec: BenchmarkSpec | None, metric: str, metrics: MetricRegistry) -> float | None:
        """The tolerated worsening of ``metric`` against a baseline (None: compared, not gated); ``spec`` is None
        when the benchmark's YAML is not at hand (``python -m pytest_audiollm compare``): the default applies."""
        return spec.max_regression.get(metric, 0.0) if spec is not None else 0.0

    @abc.abstractmethod
    def compare(
        self, metric: str, current: RunRecord, baseline: RunRecord, policy: ComparePolicy, metrics: MetricRegistry
    ) -> Comparison:
        """``metric`` of the ``current`` run against the ``baseline`` run (both checked comparable)."""

    def summarize(
        self, metric: str, run: RunRecord, settings: Settings, metrics: MetricRegistry
    ) -> MetricRecord | None:
        """The metric over the run's samples when its gate item did not run (``-k``, ``-x``); None: not known."""
        return None

    def data_checksum(self, samples: Sequence[SampleRecord]) -> str:
        """The run's data identity from its samples alone (a run whose gates did not run records this)."""
        return rows_checksum(samples)

    # -- reports ----------------------------------------------------------------------------------------

    def headline(self, run: RunRecord) -> str:
        """The first line of a run in the terminal summary (the timing and memory part is added by the report)."""
        counts = run.counts
        parts = [
            f"{run.benchmark} on {run.model}: {counts.get('samples', 0)} samples, {counts.get('errors', 0)} errors"
        ]
        if counts.get("not_run"):
            parts.append(f", {counts['not_run']} not run")
        return "".join(parts)

    def confusion(self, run: RunRecord) -> tuple[list[str], list[list[int]]] | None:
        """Labels and counts of a confusion matrix for the HTML report, when this kind of run has one."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what the kind keeps for the process (networks, caches) at the end of the session."""


def new_gate_record(kind: TaskKind, gate: GateCase, expected: int) -> GateRecord:
    """The GateRecord of ``gate`` before the kind computes anything (what every kind's gate record starts from)."""
    from pytest_audiollm.records import GateRecord

    return GateRecord(
        metric=gate.metric,
        model=gate.model,
        benchmark=gate.spec.name,
        owner=gate.owner,
        kind=kind.name,
        task=gate.spec.task,
        benchmark_version=gate.spec.version,
        expected=expected,
    )


def rows_checksum(samples: Sequence[SampleRecord]) -> str:
    """sha256 over (id, audio sha256, references) of the samples, sorted by id: a run's data identity as the
    samples alone show it (what the text kind uses, and what a run whose gates did not run records)."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.id):
        audio = (sample.audio or {}).get("sha256", "")
        digest.update(json.dumps([sample.id, audio, list(sample.references)]).encode())
    return digest.hexdigest()


def summarize_stats(metric: Metric, name: str, run: RunRecord, settings: Settings, version: str) -> MetricRecord:
    """``name`` over the per-sample statistics of ``run`` with the seeded bootstrap CI (what a kind's
    :meth:`TaskKind.summarize` returns for a metric of summed statistics whose gate did not run)."""
    from pytest_audiollm.metrics.stats import aggregate
    from pytest_audiollm.records import MetricRecord

    scored = [s.stats[name] for s in run.samples if name in s.stats]
    agg = aggregate(metric, scored, seed=settings.seed, resamples=settings.bootstrap)
    return MetricRecord(value=agg.value, ci95=list(agg.ci95), n=agg.n, higher_is_better=metric.higher_is_better,
                        version=version)  # fmt: skip
