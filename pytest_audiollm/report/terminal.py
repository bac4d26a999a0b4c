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
    if "delta" not in comparison:
        return "not compared"
    status = "REGRESSED" if comparison.get("regressed") else "ok"
    return f"{comparison['delta']:+.4f} (p {comparison['p_value']:.3g}) {status}"


def write_summary(reporter: Any, runs: list[dict[str, Any]]) -> None:
    reporter.write_sep("=", "audiollm scores")
    for run in runs:
        counts, timing, memory = run["counts"], run["timing"], run["memory"]
        rate = f"{timing['samples_per_s']:.1f} samples/s" if timing["samples_per_s"] else "no predictions"
        reporter.write_line(
            f"{run['benchmark']} on {run['model']}: {counts['samples']} samples, {counts['errors']} errors"
            + (f", {counts['truncated']} truncated" if counts["truncated"] else "")
            + (f", {counts['not_run']} not run" if counts["not_run"] else "")
            + f" | load {timing['load_s']:.2f}s, warm-up {timing['warmup_s']:.2f}s, {rate}"
            + f" | peak {format_size(memory['peak_bytes'])}"
        )
        gates = {g["metric"]: g for g in run["gates"]}
        rows: list[tuple[str, ...]] = [("metric", "value", "95% CI", "n", "gate", "vs baseline")]
        for name, metric in run["metrics"].items():
            ci = metric.get("ci95") or [None, None]
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
                    f"[{_num(ci[0])}, {_num(ci[1])}]",
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
