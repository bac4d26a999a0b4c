"""``pytest --audiollm-list``: the registered models, benchmarks and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_audiollm.state import AudioLLMState


def print_registries(config: pytest.Config, state: AudioLLMState) -> None:
    """Runs from pytest_cmdline_main, before the terminal reporter exists: plain stdout."""
    lines = ["pytest-audiollm registry"]
    lines.append("models:")
    for entry in state.models:
        lines.append(f"  {entry.name:<24} {entry.description}")
    for prefix in state.models.prefixes():
        lines.append(f"  {prefix.name + ':...':<24} {prefix.description}")
    lines.append("benchmarks:")
    for benchmark in state.benchmarks:
        lines.append(f"  {benchmark.name:<24} {benchmark.description}")
    lines.append("metrics:")
    for metric in state.metrics:
        direction = "higher is better" if metric.value.higher_is_better else "lower is better"
        lines.append(f"  {metric.name:<24} v{metric.value.version}, {direction}: {metric.description}")
    print("\n".join(lines))
