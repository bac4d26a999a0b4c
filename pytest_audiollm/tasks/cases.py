"""Cases: what each collected item evaluates, and the RunPlan that orders and batches them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.conditions import Condition
    from pytest_audiollm.sample import Sample

RunKey = tuple[str, str, str]  # (owner, model, benchmark)


@dataclass(frozen=True)
class Case:
    """One sample item: a subject (model, generator or generated folder), a benchmark, a sample."""

    model: str
    spec: BenchmarkSpec
    sample: Sample
    owner: str  # the YAML file or test function the item belongs to: (owner, model, benchmark) is a run
    loads_subject: bool = True  # False: no model behind the run (a folder of generated audio)

    @property
    def run_key(self) -> RunKey:
        return (self.owner, self.model, self.spec.name)


@dataclass(frozen=True)
class GateCase:
    """One gate item: an aggregate metric of a (model, benchmark) run, with its condition if any."""

    model: str
    spec: BenchmarkSpec
    metric: str
    condition: Condition | None
    owner: str
    loads_subject: bool = True

    @property
    def run_key(self) -> RunKey:
        return (self.owner, self.model, self.spec.name)


@dataclass
class RunPlan:
    """Sample cases of each run in execution order (after deselection), for batching and gates."""

    runs: dict[RunKey, list[Case]] = field(default_factory=lambda: defaultdict(list))
    position: dict[int, int] = field(default_factory=dict)  # id(case) -> index within its run

    def add(self, case: Case) -> None:
        run = self.runs[case.run_key]
        self.position[id(case)] = len(run)
        run.append(case)

    def index(self, case: Case) -> int:
        return self.position.get(id(case), 0)

    def upcoming(self, case: Case, count: int) -> list[Case]:
        """``case`` and the next cases of its run, ``count`` in all."""
        run = self.runs[case.run_key]
        start = self.position[id(case)]
        return run[start : start + count]

    def expected(self, run_key: RunKey) -> int:
        return len(self.runs.get(run_key, ()))
