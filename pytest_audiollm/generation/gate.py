"""A generation gate's verdict: the metric over the run, what it was computed from, the threshold check."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.generation.task import GENERATION_METRICS
from pytest_audiollm.scoring import GateVerdict

if TYPE_CHECKING:
    from pytest_audiollm.cases import GateCase
    from pytest_audiollm.generation.run import GenerationRun
    from pytest_audiollm.generation.scores import GateValue

__all__ = ["evaluate_generation_gate"]

METRIC_VERSION = "1"


def evaluate_generation_gate(
    gate: GateCase, run: GenerationRun, rows: list[dict[str, Any]], expected: int
) -> GateVerdict:
    """Compute ``gate.metric`` for the run and check the gate's condition (skips say why, with the numbers)."""
    spec = GENERATION_METRICS[gate.metric]
    paired, mode_reason = run.paired()
    gen_unpaired, ref_unpaired = run.unpaired_lists()
    result: dict[str, Any] = {
        "metric": gate.metric, "version": METRIC_VERSION, "higher_is_better": spec.higher_is_better,
        "value": None, "ci95": None, "n": 0, "expected": expected,
        "excluded": sorted(run.excluded), "excluded_reasons": dict(sorted(run.excluded.items())),
        "model_errors": sum(1 for r in rows if r.get("error_kind") == "model"),
        "condition": str(gate.condition) if gate.condition else None,
        "bound": gate.condition.bound if gate.condition else None,
        "op": gate.condition.op if gate.condition else None,
        "threshold": gate.condition.threshold if gate.condition else None,
        "passed": None, "task": "generation", "model": gate.model, "benchmark": gate.spec.name, "owner": gate.owner,
        "benchmark_version": gate.spec.version, "preset": run.preset.to_json(),
        "mode": "paired" if paired else "unpaired", "mode_reason": mode_reason,
        "definition": spec.definition, "warnings": [],
    }  # fmt: skip
    if paired and (gen_unpaired or ref_unpaired):
        result["unpaired_generated"] = gen_unpaired
        result["unpaired_reference"] = ref_unpaired
    label = f"{gate.metric} of {gate.spec.name} on {gate.model}"

    def skip(why: str) -> GateVerdict:
        return GateVerdict(result, None, f"{label} skipped: {why}", skipped=True)

    if spec.paired and not paired:
        return skip(f"{gate.metric} compares each generated file with its reference partner, and this run is "
                    f"unpaired ({mode_reason}); set generation.mode: paired to pair what shares a name")  # fmt: skip
    if spec.backbone in ("cnn14", "vggish"):
        rate = run.settings.sample_rate if spec.backbone == "cnn14" else 16000
        try:
            run.bank.embedder(spec.backbone, rate)
            name = run.bank.checkpoint_name(spec.backbone, rate)
            result["backbone"] = {"name": name, "checkpoint_sha256": run.bank.digest(spec.backbone, rate),
                                  "official": run.bank.official.get(name, False)}  # fmt: skip
        except AudioLLMError as exc:
            return skip(str(exc))
    value: float | str | None
    if spec.paired or spec.name == "clap_score":
        value = _mean_of_rows(gate.metric, rows, result)
        if value is None:
            notes = sorted(
                {r.get("notes", {}).get(gate.metric) or r.get("notes", {}).get("pair", "") for r in rows} - {""}
            )
            return skip("no generated file produced a value" + (f" ({'; '.join(notes)})" if notes else ""))
    else:
        value = _distribution(gate.metric, run, result)
        if isinstance(value, str):
            return skip(value)
    assert isinstance(value, float)
    result["value"] = round(value, 12)
    shown = f"{gate.metric} = {value:.4f} on {result['n']} generated"
    if "n_reference" in result:
        shown += f" vs {result['n_reference']} reference"
    shown += f" files ({result['mode']}, preset {run.preset.name})"
    if result.get("std") is not None:
        shown += f", std {result['std']:.4f}"
    if run.excluded:
        shown += f"; {len(run.excluded)} generated file(s) left out"
    if gate.condition is None:
        return GateVerdict(result, None, shown + " (no threshold)")
    passed = gate.condition.holds(value, (value, value))
    result["passed"] = passed
    return GateVerdict(result, passed, f"{shown} {'meets' if passed else 'FAILS'} the gate {gate.condition}")


def _note(row: dict[str, Any], metric: str) -> str:
    notes: dict[str, str] = row.get("notes", {})
    return notes.get(metric) or notes.get("pair", "")


def _mean_of_rows(metric: str, rows: list[dict[str, Any]], result: dict[str, Any]) -> float | None:
    values = [float(r["scores"][metric]) for r in rows if metric in r.get("scores", {})]
    values = [v for v in values if math.isfinite(v)]
    result["n"] = len(values)
    if not values:
        return None
    result["sample_scores"] = {r["id"]: r["scores"][metric] for r in rows if metric in r.get("scores", {})}
    return sum(values) / len(values)


def _distribution(metric: str, run: GenerationRun, result: dict[str, Any]) -> float | str:
    """The value of a distribution metric, or the reason it cannot be computed."""
    from pytest_audiollm.generation.scores import TooFew, distribution_metric, outlier_scores

    generated = [run.generated[k] for k in sorted(run.generated)]
    references = run.all_reference_features()
    if run.reference_excluded:
        result["reference_excluded"] = dict(sorted(run.reference_excluded.items()))
        result["warnings"].append(
            f"{len(run.reference_excluded)} reference file(s) could not be used and are left out of the reference "
            f"distribution: {', '.join(sorted(run.reference_excluded)[:5])}"
        )
    if not generated:
        return "no generated file passed its checks"
    try:
        value: GateValue = distribution_metric(metric, run, generated, references)
    except TooFew as exc:
        return str(exc)
    result.update(n=value.n_generated, n_reference=value.n_reference, std=value.std)
    result["computation"] = value.details  # route, dimension, subsets, bandwidth...: in the results, not the table
    result["warnings"].extend(value.warnings)
    if metric in ("fd", "fad"):
        scores = outlier_scores(generated, references, "vggish" if metric == "fad" else "cnn14")
        worst = sorted(scores.items(), key=lambda kv: -kv[1])[: run.settings.outliers]
        result["outliers"] = [{"file": k, "score": v} for k, v in worst]
        result["outlier_scores"] = scores
    return value.value
