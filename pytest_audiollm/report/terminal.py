"""The score table printed at the end of the terminal output."""

from __future__ import annotations

from typing import Any

from pytest_audiollm.settings import format_size


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _against_baseline(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return "-"
    if comparison.get("error"):
        return "ERROR (see the gate)"
    if comparison.get("delta") is None:
        return "not compared"
    status = "REGRESSED" if comparison.get("regressed") else "ok"
    test = f"p {comparison['p_value']:.3g}" if comparison.get("p_value") is not None else "by value"
    return f"{comparison['delta']:+.4f} ({test}) {status}"


def _phases(memory: dict[str, Any]) -> str:
    """`` (load X, warm-up Y, predict Z)`` when the per-phase peaks were measured."""
    phases = [("load", "peak_load_bytes"), ("warm-up", "peak_warmup_bytes"), ("predict", "peak_predict_bytes")]
    if not any(memory.get(key) for _, key in phases):
        return ""
    return " (" + ", ".join(f"{label} {format_size(memory.get(key) or 0)}" for label, key in phases) + ")"


def write_summary(reporter: Any, runs: list[dict[str, Any]], model_order: list[str] | None = None) -> None:
    reporter.write_sep("=", "audiollm scores")
    _write_runs(reporter, runs)
    rank = {m: i for i, m in enumerate(model_order or [])}
    write_sweep(reporter, sorted(runs, key=lambda r: rank.get(r["model"], len(rank))))


def _generation_header(run: dict[str, Any]) -> str:
    """``t2a on generated: 11 generated files, 3 left out | preset clean, paired, 11 reference files``."""
    counts = run["counts"]
    first: dict[str, Any] = next((m for m in run["metrics"].values() if m.get("preset")), {})
    refs = next((m["n_reference"] for m in run["metrics"].values() if m.get("n_reference")), None)
    details = [f"preset {first['preset']['name']}"] if first else []
    details += [first["mode"]] if first.get("mode") else []
    details += [f"{refs} reference files"] if refs else []
    return f"{run['benchmark']} on {run['model']}: {counts['samples']} generated files, {counts['errors']} left out" + (
        f" | {', '.join(details)}" if details else ""
    )


def _write_runs(reporter: Any, runs: list[dict[str, Any]]) -> None:
    for run in runs:
        counts, timing, memory = run["counts"], run["timing"], run["memory"]
        rate = f"{timing['samples_per_s']:.1f} samples/s" if timing["samples_per_s"] else "no predictions"
        model_part = (
            f" | load {timing['load_s']:.2f}s, warm-up {timing['warmup_s']:.2f}s, {rate}"
            + f" | peak {format_size(memory['peak_bytes'])}"
            + _phases(memory)
            + (f" | {memory['placement']['summary']}" if memory.get("placement") else "")
        )
        if run.get("task") == "generation":
            reporter.write_line(_generation_header(run) + (model_part if run.get("model_fingerprint") else ""))
        else:
            reporter.write_line(
                f"{run['benchmark']} on {run['model']}: {counts['samples']} samples, {counts['errors']} errors"
                + (f", {counts['truncated']} truncated" if counts["truncated"] else "")
                + (f", {counts['not_run']} not run" if counts["not_run"] else "")
                + model_part
            )
        gates = {g["metric"]: g for g in run["gates"]}
        rows: list[tuple[str, ...]] = [("metric", "value", "95% CI", "n", "gate", "vs baseline")]
        for name, metric in run["metrics"].items():
            ci = metric.get("ci95") or [None, None]
            spread = f"± {metric['std']:.4f}" if metric.get("std") is not None else None
            gate = gates.get(name)
            verdict = "-"
            if gate is not None:
                bound = "" if gate["bound"] == "value" else f"{gate['bound']} "
                status = {True: "PASS", False: "FAIL", None: "SKIP"}[gate["passed"]]
                verdict = f"{bound}{gate['op']} {gate['threshold']:g}  {status}"
            arrow = "^" if metric.get("higher_is_better", True) else "v"
            against = _against_baseline(metric.get("baseline"))
            rows.append(
                (
                    f"{name} {arrow}",
                    _num(metric.get("value")),
                    spread or f"[{_num(ci[0])}, {_num(ci[1])}]",
                    str(metric.get("n", "")),
                    verdict,
                    against,
                )
            )
            for key, value in (metric.get("details") or {}).items():
                rows.append((f"  {key}", _num(value), "", "", "", ""))
        if not any(m.get("baseline") for m in run["metrics"].values()):
            rows = [r[:5] for r in rows]  # no baseline: no column for it
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            reporter.write_line("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        for name, metric in run["metrics"].items():
            if metric.get("note"):
                reporter.write_line(f"  {name}: {metric['note']}")


def best_models(runs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """For benchmarks run with several models (a checkpoint sweep): the best model per metric, direction-aware."""
    by_benchmark: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_benchmark.setdefault(run["benchmark"], []).append(run)
    best: dict[str, dict[str, str]] = {}
    for benchmark, group in by_benchmark.items():
        if len({r["model"] for r in group}) < 2:
            continue
        for name in dict.fromkeys(m for r in group for m in r["metrics"]):
            scored = [(r["metrics"][name]["value"], r["model"]) for r in group
                      if name in r["metrics"] and r["metrics"][name].get("value") is not None]  # fmt: skip
            if scored:
                higher = group[0]["metrics"][name].get("higher_is_better", True)
                _value, model = (max if higher else min)(scored, key=lambda vm: vm[0])
                best.setdefault(benchmark, {})[name] = model
    return best


def write_sweep(reporter: Any, runs: list[dict[str, Any]]) -> None:
    """A trend table per benchmark over the models in command-line order, and the best model per metric."""
    for benchmark, best in best_models(runs).items():
        group = [r for r in runs if r["benchmark"] == benchmark]
        names = list(best)
        reporter.write_line(f"{benchmark}: trend over {len(group)} models")
        width = max(len(r["model"]) for r in group)
        reporter.write_line("  " + "model".ljust(width) + "  " + "  ".join(n.rjust(10) for n in names))
        for run in group:
            cells = [_num(run["metrics"].get(n, {}).get("value")).rjust(10) for n in names]
            reporter.write_line("  " + run["model"].ljust(width) + "  " + "  ".join(cells))
        reporter.write_line("  best: " + ", ".join(f"{n}: {m}" for n, m in best.items()))
