"""Aggregates with a seeded bootstrap 95% confidence interval."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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

    Each resample's corpus value comes from the count-weighted sums of the per-sample statistics.
    """
    import numpy as np

    matrix = np.asarray(stats, dtype=np.float64).reshape(len(stats), -1) if len(stats) else np.empty((0, 0))
    return bootstrap(lambda weights: metric.corpus(weights @ matrix), matrix.shape[0], seed=seed, resamples=resamples)


def aggregate_corpus(
    metric: CorpusMetric,
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    context: ScoringContext,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> Aggregate:
    """Corpus value of a corpus-level metric and its bootstrap CI (the metric is recomputed per resample)."""
    return bootstrap(
        lambda weights: metric.corpus_scores(predictions, references, context, weights),
        len(predictions),
        seed=seed,
        resamples=resamples,
    )


def bootstrap(
    values_for: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    n: int,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> Aggregate:
    """The value for all-ones weights and the percentile 95% CI of ``values_for`` over seeded resamples.

    A resample draws ``n`` samples with replacement: a row of multinomial counts per sample, drawn with
    ``numpy.random.default_rng(seed)`` in chunks (the same draws whatever the chunk size).
    """
    import numpy as np

    if n == 0:
        nan = float("nan")
        return Aggregate(nan, (nan, nan), 0, resamples, seed)
    value = float(values_for(np.ones((1, n), dtype=np.float64))[0])
    if resamples <= 0 or n == 1:
        return Aggregate(value, (value, value), n, resamples, seed)
    rng = np.random.default_rng(seed)
    values = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start).astype(np.float64)
        values[start:stop] = values_for(counts)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Aggregate(value, (float("nan"), float("nan")), n, resamples, seed)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Aggregate(value, (float(low), float(high)), n, resamples, seed)
