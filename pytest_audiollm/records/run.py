"""RunRecord: one (model, benchmark) run of the results file, with its metrics, gates, timing, memory, samples.

The controller builds one per run from the SampleRecords and GateRecords its workers reported; reports render
them and the results file stores them (``runs[]``). ``from_json`` reads the runs of results files written by
any earlier version of schema 1 (missing keys take their defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from pytest_audiollm.records.gate import Comparison
from pytest_audiollm.records.sample import SampleRecord

JSON = Any
_METRIC_KEYS = ("value", "ci95", "n", "higher_is_better", "version")


@dataclass
class MetricRecord:
    """``runs[].metrics.NAME``: a metric's value over the run, its 95% CI (None: the metric has none), n."""

    value: float | None
    ci95: list[float | None] | None
    n: int
    higher_is_better: bool
    version: str
    details: dict[str, float] = field(default_factory=dict)
    baseline: Comparison | None = None
    note: str | None = None  # why there is no value (skipped, not computable)
    extras: dict[str, JSON] = field(default_factory=dict)  # what the task kind records besides

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {key: getattr(self, key) for key in _METRIC_KEYS}
        if self.details:
            out["details"] = dict(self.details)
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_json()
        if self.note:
            out["note"] = self.note
        out.update({k: v for k, v in self.extras.items() if v not in (None, [], {})})
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> MetricRecord:
        known = {*_METRIC_KEYS, "details", "baseline", "note"}
        baseline = data.get("baseline")
        return cls(
            value=data.get("value"),
            ci95=data.get("ci95"),
            n=int(data.get("n") or 0),
            higher_is_better=bool(data.get("higher_is_better", True)),
            version=str(data.get("version", "")),
            details=dict(data.get("details") or {}),
            baseline=Comparison.from_json(baseline) if isinstance(baseline, dict) else None,
            note=data.get("note"),
            extras={k: v for k, v in data.items() if k not in known},
        )


@dataclass
class GateSummary:
    """``runs[].gates[]``: a gate with a threshold and its verdict."""

    metric: str
    bound: str
    op: str
    threshold: float
    passed: bool | None
    value: float | None

    def to_json(self) -> dict[str, JSON]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SubjectStats:
    """Timing and memory of the model (or generator) behind a run, as measured in the process that ran it."""

    fingerprint: str = ""
    device: str = ""
    loads: int = 0
    load_s: float = 0.0
    warmup_s: float = 0.0
    predict_s: float = 0.0
    predicted: int = 0
    batches: int = 0
    budget_bytes: int | None = None
    estimate_bytes: int | None = None
    peak_bytes: int = 0  # the largest of the three phases
    peak_load_bytes: int = 0  # high-water mark of load() above the memory in use before it
    peak_warmup_bytes: int = 0  # resident model + the largest transient of warm-up
    peak_predict_bytes: int = 0  # resident model + the largest transient of any predict()/generate() call
    placement: dict[str, JSON] | None = None  # Placement.to_json() for models that plan one (hf:)
    adapter_digest: str | None = None  # sha256 of a LoRA adapter (--audiollm-adapter)

    def to_json(self) -> dict[str, JSON]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, JSON] | None) -> SubjectStats:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class RunRecord:
    """``runs[]``: one model on one benchmark (from one YAML file or test function: ``source``)."""

    model: str
    benchmark: str
    source: str = ""
    kind: str = ""
    task: str = ""
    model_fingerprint: str = ""
    benchmark_version: str = ""
    scoring: dict[str, JSON] = field(default_factory=dict)
    scorers: dict[str, str] = field(default_factory=dict)
    data_checksum: str = ""
    metrics: dict[str, MetricRecord] = field(default_factory=dict)
    gates: list[GateSummary] = field(default_factory=list)
    timing: dict[str, JSON] = field(default_factory=dict)
    memory: dict[str, JSON] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[SampleRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, JSON]:
        return {
            "model": self.model,
            "model_fingerprint": self.model_fingerprint,
            "benchmark": self.benchmark,
            "benchmark_version": self.benchmark_version,
            "kind": self.kind,
            "task": self.task,
            "scoring": self.scoring,
            "scorers": self.scorers,
            "source": self.source,
            "data_checksum": self.data_checksum,
            "metrics": {name: metric.to_json() for name, metric in self.metrics.items()},
            "gates": [gate.to_json() for gate in self.gates],
            "timing": self.timing,
            "memory": self.memory,
            "counts": self.counts,
            "samples": [sample.result() for sample in self.samples],
        }

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> RunRecord:
        model, benchmark, source = (
            str(data.get("model", "")),
            str(data.get("benchmark", "")),
            str(data.get("source", "")),
        )
        samples = [
            SampleRecord.from_json(
                {**s, "id": str(s.get("id")), "model": model, "benchmark": benchmark, "owner": source}
            )
            for s in data.get("samples") or []
        ]
        return cls(
            model=model,
            benchmark=benchmark,
            source=source,
            kind=str(data.get("kind", "")),
            task=str(data.get("task", "")),
            model_fingerprint=str(data.get("model_fingerprint", "")),
            benchmark_version=str(data.get("benchmark_version", "")),
            scoring=dict(data.get("scoring") or {}),
            scorers=dict(data.get("scorers") or {}),
            data_checksum=str(data.get("data_checksum", "")),
            metrics={str(k): MetricRecord.from_json(v) for k, v in (data.get("metrics") or {}).items()},
            gates=[
                GateSummary(**{f.name: g.get(f.name) for f in fields(GateSummary)}) for g in data.get("gates") or []
            ],
            timing=dict(data.get("timing") or {}),
            memory=dict(data.get("memory") or {}),
            counts=dict(data.get("counts") or {}),
            samples=samples,
        )
