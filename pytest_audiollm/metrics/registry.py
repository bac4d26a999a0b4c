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

    def __init__(self) -> None:
        super().__init__()
        self._retired: dict[str, str] = {}

    def add(self, name: str, value: AnyMetric, description: str = "") -> None:
        super().add(name, value, description or value.description)

    def retire(self, name: str, message: str) -> None:
        """``name`` is no longer registered by its old owner: asking for it gives ``message`` (what it became and
        why) instead of "unknown metric". A later ``add`` of the same name (a plugin's own metric) wins."""
        self._retired[name] = message

    def unknown_message(self, name: str) -> str:
        if name in self._retired and name not in self:
            return self._retired[name]
        return super().unknown_message(name)
