"""GateRecord and Comparison: one aggregate metric of a run, its gate, and its comparison with a baseline.

A task kind computes the metric (value, CI, what it was computed from) and returns a GateRecord; the core
checks the gate's condition on it, adds the baseline Comparison, and turns it into the gate item's outcome,
JUnit properties and the run's ``metrics`` / ``gates`` entries in the results file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

JSON = Any


@dataclass
class Comparison:
    """A metric of the current run against the same metric of a baseline run (results ``metrics.X.baseline``).

    ``regressed``: worse by more than ``tolerance`` with ``p_value < level`` (or, for metrics compared by value,
    worse by more than ``tolerance``): the gate fails. ``error``: the runs cannot be compared (other data,
    versions or scoring): the gate fails. ``note``: nothing to compare with; the gate does not fail for it.
    """

    metric: str
    value: float | None = None
    baseline_value: float | None = None
    delta: float | None = None
    higher_is_better: bool | None = None
    p_value: float | None = None
    test: str | None = None  # "mcnemar" | "paired_bootstrap" | "value" | None (values only)
    level: float = 0.05
    tolerance: float | None = 0.0
    regressed: bool = False
    n_paired: int | None = 0
    only_in_current: list[str] = field(default_factory=list)
    only_in_baseline: list[str] = field(default_factory=list)
    right_to_wrong: list[str] = field(default_factory=list)
    wrong_to_right: list[str] = field(default_factory=list)
    largest_drops: list[dict[str, JSON]] = field(default_factory=list)
    largest_rises: list[dict[str, JSON]] = field(default_factory=list)
    note: str | None = None
    error: str | None = None
    baseline_model: str | None = None
    baseline_fingerprint: str | None = None
    brief: bool = False  # nothing was compared: only metric and note / error are written

    @classmethod
    def failure(cls, metric: str, error: str) -> Comparison:
        return cls(metric=metric, error=error, brief=True)

    @classmethod
    def nothing(cls, metric: str, note: str) -> Comparison:
        return cls(metric=metric, note=note, brief=True)

    def to_json(self) -> dict[str, JSON]:
        if self.brief:
            out = {"metric": self.metric, "note": self.note, "error": self.error}
            return {k: v for k, v in out.items() if v is not None}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "brief"}
        for key in ("note", "error"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Comparison:
        known = {f.name for f in fields(cls)} - {"brief"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**values, brief="value" not in data and "test" not in data)


@dataclass
class GateRecord:
    """One gate item's result: the metric over the run's samples, and the gate's verdict.

    Filled in two steps: the task kind sets what the metric is (``value``, ``ci95`` or None when the metric has
    no confidence interval, ``n``, ``shown``, ``skip_reason`` / ``error``, ``details``, ``extras``); the core sets
    the verdict (``passed``, ``message``), the condition fields and ``baseline``.
    """

    metric: str
    model: str
    benchmark: str
    owner: str
    kind: str
    task: str
    benchmark_version: str = "1"
    version: str = "1"
    higher_is_better: bool = True
    value: float | None = None
    ci95: list[float | None] | None = None
    n: int = 0
    expected: int = 0
    excluded: list[str] = field(default_factory=list)
    model_errors: int = 0
    condition: str | None = None
    bound: str | None = None
    op: str | None = None
    threshold: float | None = None
    passed: bool | None = None
    skipped: bool = False
    skip_reason: str | None = None  # set by the kind: the metric cannot be computed here (and why)
    error: str | None = None  # set by the kind: the metric failed (the gate fails)
    shown: str = ""  # the kind's one-line description of the value ("fd = 1.2 on 10 generated files ...")
    message: str = ""  # the verdict line the item reports
    bootstrap: dict[str, int] = field(default_factory=dict)
    scoring: dict[str, JSON] = field(default_factory=dict)  # what a later comparison needs to recompute metrics
    scorers: dict[str, str] = field(default_factory=dict)  # versions of normalisers, tokenizers, presets ...
    data_checksum: str = ""
    details: dict[str, float] = field(default_factory=dict)  # extra corpus numbers shown next to the value
    sample_scores: dict[str, float] = field(default_factory=dict)  # per-sample scores known only at the gate
    extras: dict[str, JSON] = field(default_factory=dict)  # what the kind records besides (results metrics.X)
    labels: dict[str, str] = field(default_factory=dict)  # short facts shown as JUnit properties (preset ...)
    warnings: list[str] = field(default_factory=list)
    baseline: Comparison | None = None
    model_stats: dict[str, JSON] | None = None

    @property
    def run_key(self) -> tuple[str, str, str]:
        return (self.owner, self.model, self.benchmark)

    def to_json(self) -> dict[str, JSON]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["baseline"] = self.baseline.to_json() if self.baseline is not None else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> GateRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("baseline"), dict):
            values["baseline"] = Comparison.from_json(values["baseline"])
        return cls(**values)
