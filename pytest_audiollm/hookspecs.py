"""Hook specifications of pytest-audiollm (added to pytest's plugin manager with ``pytest_addhooks``).

Implement them in a ``conftest.py`` or in a package registered under the ``pytest11`` entry point. They are
historic: a plugin or conftest registered later (for example ``benchmarks/conftest.py``, found during
collection) still receives the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_audiollm.generation.generator import GeneratorRegistry
    from pytest_audiollm.registry import BenchmarkRegistry, MetricRegistry, ModelRegistry


@pytest.hookspec(historic=True)
def pytest_audiollm_register_models(registry: ModelRegistry) -> None:
    """Add model factories: ``registry.add("mine", MyModel)``; ``MyModel(options)`` must return an AudioModel.

    ``registry.add_prefix("myhub", factory)`` handles every ``--audiollm-model myhub:TARGET``.
    """


@pytest.hookspec(historic=True)
def pytest_audiollm_register_benchmarks(registry: BenchmarkRegistry) -> None:
    """Add benchmarks: ``registry.add("mine", "path/to/bench_mine.yaml")``, a BenchmarkSpec, or a list (a suite)."""


@pytest.hookspec(historic=True)
def pytest_audiollm_register_metrics(registry: MetricRegistry) -> None:
    """Add metrics: ``registry.add("my_metric", MyMetric())`` with a ``pytest_audiollm.Metric`` instance."""


@pytest.hookspec(historic=True)
def pytest_audiollm_register_generators(registry: GeneratorRegistry) -> None:
    """Add audio generators (text to audio): ``registry.add("my-t2a", MyGenerator)`` with a factory returning a
    ``pytest_audiollm.AudioGenerator``; they run on benchmarks of task ``generation``."""
