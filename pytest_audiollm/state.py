"""AudioLLMState: everything the plugin keeps for one pytest process, under one StashKey on the config."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.cases import Case, GateCase, RunPlan

if TYPE_CHECKING:
    from pytest_audiollm.models.session import ModelPool
    from pytest_audiollm.predictor import Predictor
    from pytest_audiollm.registry import BenchmarkRegistry, MetricRegistry, ModelRegistry
    from pytest_audiollm.scoring import Row
    from pytest_audiollm.settings import Settings


@dataclass
class AudioLLMState:
    settings: Settings
    models: ModelRegistry
    benchmarks: BenchmarkRegistry
    metrics: MetricRegistry
    plan: RunPlan = field(default_factory=RunPlan)
    pool: ModelPool | None = None
    predictor: Predictor | None = None
    # rows of the samples that ran in this process, by run (owner, model, benchmark): what gates aggregate
    rows: dict[tuple[str, str, str], list[Row]] = field(default_factory=lambda: defaultdict(list))
    last_sample_of_model: dict[str, str] = field(default_factory=dict)  # model -> nodeid of its last sample
    baseline: dict[str, Any] | None = None  # the --audiollm-baseline document, loaded by the first gate
    generation: Any = None  # GenerationState of generation benchmarks (pytest_audiollm.generation.items)


state_key = pytest.StashKey[AudioLLMState]()
case_key = pytest.StashKey[Case]()
gate_key = pytest.StashKey[GateCase]()
row_key = pytest.StashKey[dict[str, Any]]()
gate_result_key = pytest.StashKey[dict[str, Any]]()
