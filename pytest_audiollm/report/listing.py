"""``pytest --audiollm-list``: what is registered, and by whom."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_audiollm.state import AudioLLMState


def print_registries(config: pytest.Config, state: AudioLLMState) -> None:
    writer = config.get_terminal_writer()
    writer.sep("=", "pytest-audiollm registry")
    writer.line("models:")
    for entry in state.models:
        writer.line(f"  {entry.name:<24} {entry.description}")
    for prefix in state.models.prefixes():
        writer.line(f"  {prefix.name + ':...':<24} {prefix.description}")
    writer.line("benchmarks:")
    for benchmark in state.benchmarks:
        writer.line(f"  {benchmark.name:<24} {benchmark.description}")
    writer.line("metrics:")
    for metric in state.metrics:
        direction = "higher is better" if metric.value.higher_is_better else "lower is better"
        writer.line(f"  {metric.name:<24} v{metric.value.version}, {direction}: {metric.description}")
