"""pytest-audiollm: audio-model benchmarks as parametrized pytest suites.

The public API. Nothing heavy is imported here: models and metrics import their libraries when used.
"""

from __future__ import annotations

import pytest

from pytest_audiollm.benchmarks.sample import AudioRef, Sample
from pytest_audiollm.errors import MissingDependency, SampleError, SpecError
from pytest_audiollm.generation.generator import AudioGenerator, GeneratorRegistry
from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

hookimpl = pytest.hookimpl

__all__ = [
    "AudioGenerator",
    "AudioModel",
    "AudioRef",
    "CorpusMetric",
    "GeneratorRegistry",
    "Metric",
    "MissingDependency",
    "ModelOptions",
    "Request",
    "Sample",
    "SampleError",
    "ScoringContext",
    "SpecError",
    "hookimpl",
]
