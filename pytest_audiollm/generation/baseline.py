"""Generation metrics against a baseline run (``--audiollm-baseline`` and ``python -m pytest_audiollm compare``).

- Per-file metrics (PSNR, SSIM, LSD, KL, KL-sigmoid, CLAP score) are means over generated files; the files are
  paired with the baseline's by id and compared with the paired bootstrap of
  :func:`pytest_audiollm.results.baseline.compare_metric` (each row carries ``stats[metric] = [value, 1]``).
  The gate fails when the metric is worse by more than ``max_regression`` (default 0) with p < the level.
- Distribution metrics (FAD, FD, KID, KAD, ISc) have no per-file values to pair: they are compared by value
  only, and gated only when the benchmark sets ``max_regression`` for them (the run-to-run spread of a
  distribution distance is the user's to judge); then worse by more than that fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.generation.task import GENERATION_METRICS
from pytest_audiollm.metrics.protocol import Metric

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.cases import GateCase
    from pytest_audiollm.metrics.protocol import ScoringContext
    from pytest_audiollm.state import AudioLLMState

__all__ = ["PerFileMean", "compare_generation_metric", "generation_baseline", "per_file"]

METRIC_VERSION = "1"


def per_file(name: str) -> bool:
    """Whether generation metric ``name`` is a mean of per-file values (the rest are distribution metrics)."""
    spec = GENERATION_METRICS.get(name)
    return spec is not None and (spec.paired or spec.name == "clap_score")


class PerFileMean(Metric):
    """A per-file generation metric seen through the Metric protocol: stats ``[value, 1]``, corpus = mean."""

    stat_names = ("value", "count")

    def __init__(self, name: str) -> None:
        spec = GENERATION_METRICS[name]
        self.name = name
        self.version = METRIC_VERSION
        self.higher_is_better = spec.higher_is_better
        self.description = spec.definition

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        raise AudioLLMError(f"{self.name} is computed by generation items from audio, not from text")

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            out: npt.NDArray[np.float64] = totals[..., 0] / totals[..., 1]
        return out


def compare_generation_metric(
    name: str,
    current_rows: Sequence[Mapping[str, Any]],
    current_info: Mapping[str, Any],
    baseline_run: Mapping[str, Any],
    *,
    seed: int,
    resamples: int,
    level: float,
    tolerance: float | None,
) -> dict[str, Any]:
    """The comparison dict of :func:`~pytest_audiollm.results.baseline.compare_metric` for a generation metric."""
    from pytest_audiollm.results.baseline import compare_metric, context_from_scoring, values_only

    if per_file(name):
        comparison = compare_metric(
            PerFileMean(name), name, current_rows, baseline_run.get("samples") or [],
            context_from_scoring({}, "generation"), seed=seed, resamples=resamples, level=level,
            tolerance=0.0 if tolerance is None else tolerance,
        )  # fmt: skip
        if tolerance is None:
            comparison |= {"tolerance": None, "regressed": False}
        return comparison
    base_info = (baseline_run.get("metrics") or {}).get(name) or {}
    comparison = values_only(name, current_info, base_info, level, tolerance)
    comparison["note"] = (
        f"{name} is a distribution metric: no per-file values to pair, so values are compared without a "
        "significance test" + ("" if tolerance is not None else "; set max_regression for it to gate on the change")
    )
    delta = comparison.get("delta")
    if tolerance is not None and delta is not None:
        worse = -delta if GENERATION_METRICS[name].higher_is_better else delta
        comparison["regressed"] = worse > tolerance
        comparison["test"] = "value"
    return comparison


def generation_baseline(
    state: AudioLLMState, gate: GateCase, rows: list[dict[str, Any]], result: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The baseline comparison of a generation gate (None without --audiollm-baseline or when it is off)."""
    path = state.settings.baseline_path
    if not path:
        return None
    default = 0.0 if per_file(gate.metric) else None
    tolerance = gate.spec.max_regression.get(gate.metric, default)
    from pytest_audiollm.regression import baseline_run
    from pytest_audiollm.results.baseline import identity_mismatch
    from pytest_audiollm.results.runs import data_checksum

    run, early = baseline_run(state, gate)
    if run is None:
        return early
    current = {
        "benchmark": gate.spec.name,
        "benchmark_version": gate.spec.version,
        "data_checksum": data_checksum(rows),
        "scoring": result.get("scoring"),
        "metrics": {gate.metric: {"version": METRIC_VERSION}},
    }
    mismatch = identity_mismatch(current, run)
    if mismatch is not None:
        return {"metric": gate.metric, "error": mismatch}
    comparison = compare_generation_metric(
        gate.metric, rows, result, run, seed=state.settings.seed, resamples=state.settings.bootstrap,
        level=gate.spec.regression_level, tolerance=tolerance,
    )  # fmt: skip
    return dict(comparison, baseline_model=run.get("model"), baseline_fingerprint=run.get("model_fingerprint"))
