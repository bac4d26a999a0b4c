"""Generation metrics against a baseline run (``--audiollm-baseline`` and ``python -m pytest_audiollm compare``).

- Per-file metrics (PSNR, SSIM, LSD, KL, KL-sigmoid, CLAP score) are means over generated files; the files are
  paired with the baseline's by id and compared with the paired bootstrap of
  :func:`pytest_audiollm.metrics.compare.compare_metric` (each record carries ``stats[metric] = [value, 1]``).
  The gate fails when the metric is worse by more than ``max_regression`` (default 0) with p < the level.
- Distribution metrics (FAD, FD, KID, KAD, ISc) have no per-file values to pair: they are compared by value
  only, and gated only when the benchmark sets ``max_regression`` for them (the run-to-run spread of a
  distribution distance is the user's to judge); then worse by more than that fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.records import Comparison, RunRecord
    from pytest_audiollm.tasks.base import ComparePolicy

__all__ = ["PerFileMean", "compare_generation_metric"]


class PerFileMean(Metric):
    """A per-file generation metric seen through the Metric protocol: stats ``[value, 1]``, corpus = mean."""

    stat_names = ("value", "count")

    def __init__(self, name: str, higher_is_better: bool) -> None:
        self.name = name
        self.higher_is_better = higher_is_better

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        raise AudioLLMError(f"{self.name} is computed by generation items from audio, not from text")

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            out: npt.NDArray[np.float64] = totals[..., 0] / totals[..., 1]
        return out


def compare_generation_metric(
    name: str, per_file: bool, current: RunRecord, baseline: RunRecord, policy: ComparePolicy
) -> Comparison:
    """``name`` of the current run against the baseline run: paired bootstrap per file, else by value."""
    from pytest_audiollm.metrics.compare import compare_metric, values_only

    info = current.metrics[name]
    if per_file:
        comparison = compare_metric(
            PerFileMean(name, info.higher_is_better), name, current.samples, baseline.samples,
            ScoringContext(task=current.task), seed=policy.seed, resamples=policy.resamples, level=policy.level,
            tolerance=0.0 if policy.tolerance is None else policy.tolerance,
        )  # fmt: skip
        if policy.tolerance is None:
            comparison.tolerance, comparison.regressed = None, False
        return comparison
    note = (
        f"{name} is a distribution metric: no per-file values to pair, so values are compared without a "
        "significance test"
        + ("" if policy.tolerance is not None else "; set max_regression for it to gate on the change")
    )
    comparison = values_only(name, info, baseline.metrics[name], policy.level, policy.tolerance, note)
    if policy.tolerance is not None and comparison.delta is not None:
        worse = -comparison.delta if info.higher_is_better else comparison.delta
        comparison.regressed = worse > policy.tolerance
        comparison.test = "value"
    return comparison
