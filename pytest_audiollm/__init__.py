"""pytest-audiollm: audio-model benchmarks as parametrized pytest suites.

The public API. Nothing heavy is imported here: models and metrics import their libraries when used.
"""

from __future__ import annotations

import pytest

from pytest_audiollm.benchmarks.registry import BenchmarkRegistry
from pytest_audiollm.benchmarks.spec import BenchmarkSpec, KindBlock
from pytest_audiollm.errors import AudioLLMError, MissingDependency, SampleError, SpecError
from pytest_audiollm.metrics.generation.protocol import (
    DistanceSettings,
    DistanceValue,
    DistributionMetric,
    FileMetric,
    NotScorable,
    ScoredFile,
    TooFew,
)
from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext
from pytest_audiollm.metrics.registry import MetricRegistry
from pytest_audiollm.models.protocol import AudioGenerator, AudioModel, ModelOptions, Request, Subject
from pytest_audiollm.models.registry import GeneratorRegistry, ModelRegistry
from pytest_audiollm.records import Comparison, GateRecord, RunRecord, SampleRecord
from pytest_audiollm.sample import AudioRef, Sample
from pytest_audiollm.tasks.base import ComparePolicy, PlannedRun, RunContext, SubjectInfo, TaskKind
from pytest_audiollm.tasks.cases import Case, GateCase
from pytest_audiollm.tasks.registry import TaskKindRegistry

hookimpl = pytest.hookimpl

__all__ = [
    "AudioGenerator",
    "AudioLLMError",
    "AudioModel",
    "AudioRef",
    "BenchmarkRegistry",
    "BenchmarkSpec",
    "Case",
    "ComparePolicy",
    "Comparison",
    "CorpusMetric",
    "DistanceSettings",
    "DistanceValue",
    "DistributionMetric",
    "FileMetric",
    "GateCase",
    "GateRecord",
    "GeneratorRegistry",
    "KindBlock",
    "Metric",
    "MetricRegistry",
    "MissingDependency",
    "ModelOptions",
    "ModelRegistry",
    "NotScorable",
    "PlannedRun",
    "Request",
    "RunContext",
    "RunRecord",
    "Sample",
    "SampleError",
    "SampleRecord",
    "ScoredFile",
    "ScoringContext",
    "SpecError",
    "Subject",
    "SubjectInfo",
    "TaskKind",
    "TaskKindRegistry",
    "TooFew",
    "hookimpl",
]
