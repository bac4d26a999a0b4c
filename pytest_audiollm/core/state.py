"""AudioLLMState: everything the plugin keeps for one pytest process, under one StashKey on the config."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.records import GateRecord, SampleRecord
from pytest_audiollm.tasks.cases import Case, GateCase, RunKey, RunPlan

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.registry import BenchmarkRegistry
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.models.registry import ModelRegistry
    from pytest_audiollm.models.session import ModelPool
    from pytest_audiollm.records import ResultsDocument, SampleRecord
    from pytest_audiollm.settings import Settings
    from pytest_audiollm.tasks.base import RunContext
    from pytest_audiollm.tasks.registry import TaskKindRegistry

__all__ = ["AudioLLMState", "case_key", "gate_key", "gate_record_key", "sample_record_key", "state_key"]


@dataclass
class AudioLLMState:
    settings: Settings
    models: ModelRegistry
    benchmarks: BenchmarkRegistry
    metrics: MetricRegistry
    kinds: TaskKindRegistry
    plan: RunPlan = field(default_factory=RunPlan)
    pool: ModelPool | None = None
    context: RunContext | None = None
    # the sample records of this process, by run (owner, model, benchmark): what gates aggregate
    records: dict[RunKey, list[SampleRecord]] = field(default_factory=lambda: defaultdict(list))
    last_sample_of_model: dict[str, str] = field(default_factory=dict)  # model -> nodeid of its last sample
    over_budget: set[str] = field(default_factory=set)  # models skipped by the memory budget (not --audiollm-strict)
    baseline: ResultsDocument | None = None  # the --audiollm-baseline document, read by the first gate
    baseline_error: str | None = None  # why it could not be read (every gate that needs it fails with this)
    extra: dict[str, Any] = field(default_factory=dict)


state_key = pytest.StashKey[AudioLLMState]()
case_key = pytest.StashKey[Case]()
gate_key = pytest.StashKey[GateCase]()
sample_record_key = pytest.StashKey[SampleRecord]()
gate_record_key = pytest.StashKey[GateRecord]()
