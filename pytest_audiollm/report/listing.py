"""``pytest --audiollm-list``: the registered models, generators, benchmarks, metrics and task kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_audiollm.core.state import AudioLLMState

__all__ = ["print_registries"]


def print_registries(state: AudioLLMState) -> None:
    """Runs from pytest_cmdline_main, before the terminal reporter exists: plain stdout."""
    from pytest_audiollm.metrics.generation.protocol import AudioMetric

    lines = ["pytest-audiollm registry", "models:"]
    for entry in state.models:
        if state.models.kind_of(entry.name) == "model":
            lines.append(f"  {entry.name:<24} {entry.description}")
    for prefix in state.models.prefixes():
        lines.append(f"  {prefix.name + ':...':<24} {prefix.description}")
    generators = [e for e in state.models if state.models.kind_of(e.name) == "generator"]
    lines.append(
        "generators:" + ("" if generators else " none (register one with pytest_audiollm_register_generators)")
    )
    for entry in generators:
        lines.append(f"  {entry.name:<24} {entry.description}")
    lines.append("benchmarks:")
    for benchmark in state.benchmarks:
        lines.append(f"  {benchmark.name:<24} {benchmark.description}")
    for title, audio in (("metrics (text tasks):", False), ("metrics (generation):", True)):
        lines.append(title)
        for metric in state.metrics:
            if isinstance(metric.value, AudioMetric) != audio:
                continue
            direction = "higher is better" if metric.value.higher_is_better else "lower is better"
            lines.append(f"  {metric.name:<24} v{metric.value.version}, {direction}: {metric.description}")
    lines.append("task kinds:")
    for kind in state.kinds:
        tasks = ", ".join(kind.value.tasks)
        lines.append(f"  {kind.name:<24} tasks {tasks}: {kind.description}")
    print("\n".join(lines))
