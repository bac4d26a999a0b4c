"""Item order and re-runs: models in command-line order, and a gate never re-run without its samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.core.collection import run_items_key
from pytest_audiollm.core.state import case_key, gate_key

if TYPE_CHECKING:
    from pytest_audiollm.records import GateRecord, SampleRecord

__all__ = ["model_of", "order_items", "remember_gate_samples", "restore_gate_samples"]


def model_of(item: pytest.Item) -> str | None:
    case = item.stash.get(case_key, None)
    if case is not None:
        return case.model
    gate = item.stash.get(gate_key, None)
    return gate.model if gate is not None else None


def order_items(items: list[pytest.Item], models: Sequence[str]) -> None:
    """Stable-sort our items by model (in command-line order) inside the slots they occupy."""
    rank = {name: i for i, name in enumerate(models)}
    slots = [i for i, item in enumerate(items) if model_of(item) is not None]
    ours = sorted((items[i] for i in slots), key=lambda item: rank.get(model_of(item) or "", len(rank)))
    for slot, item in zip(slots, ours, strict=True):
        items[slot] = item


def restore_gate_samples(items: list[pytest.Item]) -> None:
    """Put back the samples of a selected gate whose samples were all left out (``--lf`` with a cache written
    before the gate's samples were remembered as failed, see :func:`remember_gate_samples`).

    A gate aggregates its samples; re-running a failed gate alone would measure nothing.
    """
    present = {item.stash[case_key].run_key for item in items if case_key in item.stash}
    for index in range(len(items) - 1, -1, -1):
        gate = items[index].stash.get(gate_key, None)
        parent = items[index].parent
        if gate is None or gate.run_key in present or parent is None:
            continue
        samples = parent.stash.get(run_items_key, {}).get(gate.run_key, [])
        first = next(
            i for i, item in enumerate(items) if (g := item.stash.get(gate_key, None)) and g.run_key == gate.run_key
        )
        items[first:first:] = samples
        present.add(gate.run_key)


def remember_gate_samples(
    config: pytest.Config, samples: dict[Any, dict[str, SampleRecord]], gates: dict[Any, dict[str, GateRecord]]
) -> None:
    """Record the samples of every failed gate as failed in pytest's ``--lf`` cache (the lastfailed plugin).

    ``--lf`` then selects a failed gate together with the samples it aggregates, and its selected / deselected
    counts are right (putting samples back after the deselection was reported could not fix them).
    """
    lf = config.pluginmanager.getplugin("lfplugin")
    lastfailed = getattr(lf, "lastfailed", None)
    if not isinstance(lastfailed, dict):
        return
    for key, by_metric in gates.items():
        if any(g.passed is False or (g.baseline is not None and (g.baseline.regressed or g.baseline.error))
               for g in by_metric.values()):  # fmt: skip
            for record in samples.get(key, {}).values():
                if record.nodeid:
                    lastfailed[record.nodeid] = True
