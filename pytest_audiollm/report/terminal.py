"""The score table printed at the end of the terminal output (controller only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.records import Comparison, RunRecord
from pytest_audiollm.units import format_size

if TYPE_CHECKING:
    from pytest_audiollm.tasks.registry import TaskKindRegistry

__all__ = ["TerminalSummary", "best_models", "write_summary"]


class TerminalSummary:
    """Prints the runs the ResultsCollector built, with each run's headline from its task kind."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_audiollm.core.state import state_key

        collector = self.config.pluginmanager.getplugin("audiollm-results")
        runs = collector.runs() if collector is not None else []
        if runs:
            state = self.config.stash[state_key]
            write_summary(terminalreporter, runs, list(state.settings.models), state.kinds)


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _against_baseline(comparison: Comparison | None) -> str:
    if comparison is None:
        return "-"
    if comparison.error:
        return "ERROR (see the gate)"
    if comparison.delta is None:
        return "not compared"
    status = "REGRESSED" if comparison.regressed else "ok"
    test = f"p {comparison.p_value:.3g}" if comparison.p_value is not None else "by value"
    return f"{comparison.delta:+.4f} ({test}) {status}"


def _phases(memory: dict[str, Any]) -> str:
    """`` (load X, warm-up Y, predict Z)`` when the per-phase peaks were measured."""
    phases = [("load", "peak_load_bytes"), ("warm-up", "peak_warmup_bytes"), ("predict", "peak_predict_bytes")]
    if not any(memory.get(key) for _, key in phases):
        return ""
    return " (" + ", ".join(f"{label} {format_size(memory.get(key) or 0)}" for label, key in phases) + ")"


def write_summary(reporter: Any, runs: list[RunRecord], model_order: list[str] | None, kinds: TaskKindRegistry) -> None:
    reporter.write_sep("=", "audiollm scores")
    _write_runs(reporter, runs, kinds)
    rank = {m: i for i, m in enumerate(model_order or [])}
    write_sweep(reporter, sorted(runs, key=lambda r: rank.get(r.model, len(rank))))


def headline(run: RunRecord, kinds: TaskKindRegistry) -> str:
    """The run's first line: the kind's headline, then the subject's timing and memory when it has one."""
    kind = kinds.get(run.kind) if run.kind in kinds else None
    if kind is not None:
        line = kind.headline(run)
    else:
        line = f"{run.benchmark} on {run.model}: {run.counts.get('samples', 0)} samples"
    if not run.model_fingerprint:
        return line  # nothing was loaded (a folder of generated audio)
    timing, memory = run.timing, run.memory
    rate = f"{timing['samples_per_s']:.1f} samples/s" if timing.get("samples_per_s") else "no predictions"
    return (
        line
        + f" | load {timing.get('load_s', 0.0):.2f}s, warm-up {timing.get('warmup_s', 0.0):.2f}s, {rate}"
        + f" | peak {format_size(memory.get('peak_bytes'))}"
        + _phases(memory)
        + (f" | {memory['placement']['summary']}" if memory.get("placement") else "")
    )


def _write_runs(reporter: Any, runs: list[RunRecord], kinds: TaskKindRegistry) -> None:
    for run in runs:
        reporter.write_line(headline(run, kinds))
        gates = {g.metric: g for g in run.gates}
        rows: list[tuple[str, ...]] = [("metric", "value", "95% CI", "n", "gate", "vs baseline")]
        for name, metric in run.metrics.items():
            ci = metric.ci95 or [None, None]
            std = metric.extras.get("std")
            spread = f"[{_num(ci[0])}, {_num(ci[1])}]" if metric.ci95 is not None else None
            if spread is None:
                spread = f"± {std:.4f}" if std is not None else "-"
            gate = gates.get(name)
            verdict = "-"
            if gate is not None:
                bound = "" if gate.bound == "value" else f"{gate.bound} "
                status = {True: "PASS", False: "FAIL", None: "SKIP"}[gate.passed]
                verdict = f"{bound}{gate.op} {gate.threshold:g}  {status}"
            arrow = "^" if metric.higher_is_better else "v"
            rows.append(
                (f"{name} {arrow}", _num(metric.value), spread, str(metric.n), verdict,
                 _against_baseline(metric.baseline))
            )  # fmt: skip
            for key, value in metric.details.items():
                rows.append((f"  {key}", _num(value), "", "", "", ""))
        if not any(m.baseline is not None for m in run.metrics.values()):
            rows = [r[:5] for r in rows]  # no baseline: no column for it
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            reporter.write_line("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        for name, metric in run.metrics.items():
            if metric.note:
                reporter.write_line(f"  {name}: {metric.note}")


def best_models(runs: list[RunRecord]) -> dict[str, dict[str, str]]:
    """For benchmarks run with several models (a checkpoint sweep): the best model per metric, direction-aware."""
    by_benchmark: dict[str, list[RunRecord]] = {}
    for run in runs:
        by_benchmark.setdefault(run.benchmark, []).append(run)
    best: dict[str, dict[str, str]] = {}
    for benchmark, group in by_benchmark.items():
        if len({r.model for r in group}) < 2:
            continue
        for name in dict.fromkeys(m for r in group for m in r.metrics):
            scored = [(value, r.model) for r in group
                      if name in r.metrics and (value := r.metrics[name].value) is not None]  # fmt: skip
            if scored:
                higher = next(r.metrics[name].higher_is_better for r in group if name in r.metrics)
                _value, model = (max if higher else min)(scored, key=lambda vm: vm[0])
                best.setdefault(benchmark, {})[name] = model
    return best


def write_sweep(reporter: Any, runs: list[RunRecord]) -> None:
    """A trend table per benchmark over the models in command-line order, and the best model per metric."""
    for benchmark, best in best_models(runs).items():
        group = [r for r in runs if r.benchmark == benchmark]
        names = list(best)
        reporter.write_line(f"{benchmark}: trend over {len(group)} models")
        width = max(len(r.model) for r in group)
        reporter.write_line("  " + "model".ljust(width) + "  " + "  ".join(n.rjust(10) for n in names))
        for run in group:
            cells = [_num(run.metrics[n].value if n in run.metrics else None).rjust(10) for n in names]
            reporter.write_line("  " + run.model.ljust(width) + "  " + "  ".join(cells))
        reporter.write_line("  best: " + ", ".join(f"{n}: {m}" for n, m in best.items()))
