"""Cases: what each collected item evaluates, and the RunPlan that orders and batches them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.sample import Sample
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.gates import Condition


@dataclass(frozen=True)
class Case:
    """One sample item: a model, a benchmark, a sample."""

    model: str
    spec: BenchmarkSpec
    sample: Sample
    owner: str  # the YAML file or test function the item belongs to: (owner, model, benchmark) is a run

    @property
    def run_key(self) -> tuple[str, str, str]:
        return (self.owner, self.model, self.spec.name)


@dataclass(frozen=True)
class GateCase:
    """One gate item: an aggregate metric of a (model, benchmark) run, with its condition if any."""

    model: str
    spec: BenchmarkSpec
    metric: str
    condition: Condition | None
    owner: str

    @property
    def run_key(self) -> tuple[str, str, str]:
        return (self.owner, self.model, self.spec.name)


@dataclass
class RunPlan:
    """Sample cases of each run in execution order (after deselection), for batching and gates."""

    runs: dict[tuple[str, str, str], list[Case]] = field(default_factory=lambda: defaultdict(list))
    position: dict[int, int] = field(default_factory=dict)  # id(case) -> index within its run

    def add(self, case: Case) -> None:
        run = self.runs[case.run_key]
        self.position[id(case)] = len(run)
        run.append(case)

    def upcoming(self, case: Case, count: int) -> list[Case]:
        """``case`` and the next cases of its run, ``count`` in all."""
        run = self.runs[case.run_key]
        start = self.position[id(case)]
        return run[start : start + count]

    def expected(self, run_key: tuple[str, str, str]) -> int:
        return len(self.runs.get(run_key, ()))
