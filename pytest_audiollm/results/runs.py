"""Runs: the per-(model, benchmark) records of the results file, built from rows and gate results."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pytest_audiollm.metrics.protocol import Metric
from pytest_audiollm.metrics.stats import aggregate

if TYPE_CHECKING:
    from pytest_audiollm.state import AudioLLMState

RunKey = tuple[str, str, str]


# what a generation gate records besides its value (see pytest_audiollm.generation.gate)
GENERATION_KEYS = (
    "std", "n_reference", "mode", "mode_reason", "preset", "backbone", "definition", "warnings", "computation",
    "excluded_reasons", "reference_excluded", "unpaired_generated", "unpaired_reference", "outliers", "outlier_scores",
)  # fmt: skip


def build_runs(
    state: AudioLLMState, rows: dict[RunKey, dict[str, dict[str, Any]]], gates: dict[RunKey, dict[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    runs = []
    for key in sorted(set(rows) | set(gates)):
        owner, model, benchmark = key
        run_rows = sorted(rows.get(key, {}).values(), key=lambda r: (r.get("index", 0), r["id"]))
        run_gates = gates.get(key, {})
        stats: dict[str, Any] = next((g["model_stats"] for g in run_gates.values() if "model_stats" in g), {})
        metrics: dict[str, Any] = {}
        for name, gate in run_gates.items():
            metrics[name] = {k: gate[k] for k in ("value", "ci95", "n", "higher_is_better", "version")}
            if gate.get("details"):
                metrics[name]["details"] = gate["details"]
            if gate.get("baseline"):
                metrics[name]["baseline"] = gate["baseline"]
            if gate["value"] is None and gate.get("message"):
                metrics[name]["note"] = gate["message"]  # why there is no value (skipped, not computable)
            metrics[name].update({k: gate[k] for k in GENERATION_KEYS if gate.get(k) not in (None, [], {})})
        for name in sorted({m for r in run_rows for m in r.get("stats", {})} - set(metrics)):
            summed = _aggregate_rows(state, name, run_rows)  # its gate item did not run (-k, -x)
            if summed is not None:
                metrics[name] = summed
        for gate in run_gates.values():  # per-sample scores of corpus metrics (CIDEr-D) are known at the gate
            for row in run_rows:
                if row["id"] in gate.get("sample_scores", {}):
                    row.setdefault("scores", {})[gate["metric"]] = gate["sample_scores"][row["id"]]
        predicted = [r for r in run_rows if r.get("prediction") is not None]
        predict_s = sum(float(r.get("latency_s") or 0.0) for r in predicted)
        first_gate = next(iter(run_gates.values()), {})
        runs.append(
            {
                "model": model,
                "model_fingerprint": stats.get("fingerprint", ""),
                "benchmark": benchmark,
                "benchmark_version": first_gate.get("benchmark_version", ""),
                "task": first_gate.get("task", ""),
                "scoring": first_gate.get("scoring", {}),
                "source": owner,
                "data_checksum": data_checksum(run_rows),
                "metrics": metrics,
                "gates": [
                    {k: g[k] for k in ("metric", "bound", "op", "threshold", "passed", "value")}
                    for g in run_gates.values()
                    if g.get("condition")
                ],
                "timing": {
                    "load_s": round(stats.get("load_s", 0.0), 6),
                    "warmup_s": round(stats.get("warmup_s", 0.0), 6),
                    "predict_s": round(predict_s, 6),
                    "samples_per_s": round(len(predicted) / predict_s, 3) if predict_s > 0 else None,
                },
                "memory": {
                    "budget_bytes": stats.get("budget_bytes"),
                    "estimate_bytes": stats.get("estimate_bytes"),
                    "peak_bytes": stats.get("peak_bytes"),
                    "peak_load_bytes": stats.get("peak_load_bytes"),
                    "peak_warmup_bytes": stats.get("peak_warmup_bytes"),
                    "peak_predict_bytes": stats.get("peak_predict_bytes"),
                    "device": stats.get("device"),
                    "placement": stats.get("placement"),
                    "adapter_digest": stats.get("adapter_digest"),
                },
                "counts": {
                    "samples": len(run_rows),
                    "errors": sum(1 for r in run_rows if r.get("error_kind") in ("data", "model", "output")),
                    "not_run": sum(1 for r in run_rows if r.get("error_kind") == "setup"),
                    "truncated": sum(1 for r in run_rows if (r.get("audio") or {}).get("truncated_s")),
                },
                "samples": [
                    {
                        k: r.get(k)
                        for k in (
                            "id",
                            "prediction",
                            "references",
                            "scores",
                            "stats",
                            "error",
                            "error_kind",
                            "latency_s",
                            "audio",
                            "generated",
                            "notes",
                        )
                    }
                    for r in run_rows
                ],
            }
        )
    return runs


def _aggregate_rows(state: AudioLLMState, name: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    metric = state.metrics.get(name)
    if not isinstance(metric, Metric):
        return None  # a corpus metric needs its benchmark's settings: only its gate computes it
    scored = [r["stats"][name] for r in rows if name in r.get("stats", {})]
    agg = aggregate(metric, scored, seed=state.settings.seed, resamples=state.settings.bootstrap)
    return {
        "value": agg.value,
        "ci95": list(agg.ci95),
        "n": agg.n,
        "higher_is_better": metric.higher_is_better,
        "version": metric.version,
    }


def data_checksum(rows: list[dict[str, Any]]) -> str:
    """Identity of a run's data: sha256 over (id, audio sha256, references) of its samples, sorted by id."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r["id"]):
        audio = (row.get("audio") or {}).get("sha256", "")
        digest.update(json.dumps([row["id"], audio, row.get("references", [])]).encode())
    return digest.hexdigest()
