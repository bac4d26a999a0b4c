"""Hook specifications of pytest-audiollm (added to pytest's plugin manager with ``pytest_addhooks``).

Implement them in a ``conftest.py`` or in a package registered under the ``pytest11`` entry point. They are
historic: a plugin or conftest registered later (for example ``benchmarks/conftest.py``, found during
collection) still receives the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.registry import BenchmarkRegistry
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.models.registry import GeneratorRegistry, ModelRegistry
    from pytest_audiollm.tasks.registry import TaskKindRegistry


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
    """Add metrics: ``registry.add("my_metric", MyMetric())`` with an instance of a metric protocol.

    Text metrics subclass ``pytest_audiollm.Metric`` (per-sample statistics summed over the corpus) or
    ``pytest_audiollm.CorpusMetric``; generation metrics subclass ``pytest_audiollm.FileMetric`` (a value per
    generated file) or ``pytest_audiollm.DistributionMetric`` (generated set against reference set). A task kind
    accepts the metrics of its own family.
    """


@pytest.hookspec(historic=True)
def pytest_audiollm_register_generators(registry: GeneratorRegistry) -> None:
    """Add audio generators (text to audio): ``registry.add("my-t2a", MyGenerator)`` with a factory returning a
    ``pytest_audiollm.AudioGenerator``; they run on benchmarks of task ``generation``."""


@pytest.hookspec(historic=True)
def pytest_audiollm_register_task_kinds(registry: TaskKindRegistry) -> None:
    """Add a kind of evaluation: ``registry.add("my-kind", MyKind())`` with a ``pytest_audiollm.TaskKind`` instance.

    The kind names the ``task:`` values it runs, reads its own YAML keys, plans its runs and items, returns
    typed records for its sample and gate items, and compares runs with a baseline (see the TaskKind protocol).
    Create the instance inside the hook: it keeps per-session state.
    """
