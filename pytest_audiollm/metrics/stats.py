"""Aggregates with a seeded bootstrap 95% confidence interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_audiollm.metrics.protocol import Metric

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Aggregate:
    value: float
    ci95: tuple[float, float]
    n: int
    resamples: int
    seed: int


def aggregate(
    metric: Metric, stats: Sequence[Sequence[float]], *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES
) -> Aggregate:
    """Corpus value of ``metric`` over the rows of ``stats`` and its percentile bootstrap 95% CI.

    Resampling draws samples with replacement (a multinomial count per sample, seeded with ``seed``); the
    corpus metric is recomputed on each resample from the count-weighted sums of the per-sample statistics.
    """
    import numpy as np

    matrix = np.asarray(stats, dtype=np.float64).reshape(len(stats), -1) if len(stats) else np.empty((0, 0))
    n = matrix.shape[0]
    if n == 0:
        nan = float("nan")
        return Aggregate(nan, (nan, nan), 0, resamples, seed)
    value = float(metric.corpus(matrix.sum(axis=0)))
    if resamples <= 0 or n == 1:
        return Aggregate(value, (value, value), n, resamples, seed)
    rng = np.random.default_rng(seed)
    values = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start).astype(np.float64)
        values[start:stop] = metric.corpus(counts @ matrix)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Aggregate(value, (float("nan"), float("nan")), n, resamples, seed)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Aggregate(value, (float(low), float(high)), n, resamples, seed)
