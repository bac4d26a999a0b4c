"""The metric registry (what ``pytest_audiollm_register_metrics`` receives): text and generation metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_audiollm.registry import Registry

if TYPE_CHECKING:
    from pytest_audiollm.metrics.protocol import AnyMetric

__all__ = ["MetricRegistry"]


class MetricRegistry(Registry["AnyMetric"]):
    """Metric instances by name: text metrics (``Metric``, ``CorpusMetric``) and generation metrics
    (:mod:`pytest_audiollm.metrics.generation.protocol`); a task kind accepts the metrics of its own family."""

    kind = "metric"

    def add(self, name: str, value: AnyMetric, description: str = "") -> None:
        super().add(name, value, description or value.description)
