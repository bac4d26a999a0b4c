"""Paired comparisons of a metric between two runs: McNemar, the paired bootstrap, flipped samples.

Pure functions over sample records (scored in both runs, paired by id); the baseline gates and
``python -m pytest_audiollm compare`` both use them, through the task kinds.

Tests, per metric, on the samples scored in both runs (paired by id):

- **McNemar** (``test == "mcnemar"``) for metrics whose per-sample statistics start with ``correct, count``
  with count 1 and correct 0 or 1 (``accuracy``, ``mcq_accuracy``, ``species_accuracy``): with ``b`` the
  samples that went right -> wrong and ``c`` those that went wrong -> right, the exact one-sided p-value for
  "the current run is worse" is ``P(X >= b)`` for ``X ~ Binomial(b + c, 1/2)``; 1 when ``b + c == 0``.
- **Paired bootstrap** (``test == "paired_bootstrap"``) for every other metric: ``resamples`` rows of
  multinomial counts drawn as in :func:`pytest_audiollm.metrics.stats.bootstrap` (``default_rng(seed)``) are
  applied to BOTH runs; ``delta_b`` is the corpus value of the current run minus the baseline's under
  resample ``b``, signed so that positive means better (negated for lower-is-better metrics); the
  one-sided p-value for "worse" is ``p = (1 + #{b: delta_b >= 0}) / (1 + B)`` with ``B`` the resamples whose
  delta is finite (1 when ``B == 0``, e.g. one paired sample or ``resamples == 0``). Identical runs give
  p = 1.

A metric is ``regressed`` when it is worse by more than ``tolerance`` (in the metric's own units) and
``p < level``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext
from pytest_audiollm.records import Comparison, MetricRecord, SampleRecord

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


__all__ = ["compare_metric", "mcnemar_p", "values_only"]

FLIPS_SHOWN = 10  # samples listed in largest_drops / largest_rises


def compare_metric(
    metric: Metric | CorpusMetric,
    name: str,
    current: Sequence[SampleRecord],
    baseline: Sequence[SampleRecord],
    context: ScoringContext,
    *,
    seed: int,
    resamples: int,
    level: float = 0.05,
    tolerance: float = 0.0,
) -> Comparison:
    """Compare metric ``name`` between the ``current`` and ``baseline`` sample records.

    A sample takes part when ``name`` is in its ``stats`` in both lists (paired by ``id``). Returns a
    Comparison: ``metric``, ``value`` and ``baseline_value`` (corpus values on the paired samples), ``delta``
    (``value - baseline_value``, raw), ``higher_is_better``, ``p_value`` (one-sided, for "current is worse";
    see the module docstring), ``test`` (``"mcnemar"`` or ``"paired_bootstrap"``), ``level``, ``tolerance``,
    ``regressed`` (worse by more than ``tolerance`` and ``p_value < level``), ``n_paired``,
    ``only_in_current`` and ``only_in_baseline`` (scored ids without a partner), ``right_to_wrong`` and
    ``wrong_to_right`` (ids; McNemar metrics only), ``largest_drops`` and ``largest_rises`` (up to 10
    ``{id, value, baseline_value, delta}`` by per-sample score, worst / best first; other metrics only).
    Values that are not finite are ``None``.
    """
    cur = _scored(current, name)
    base = _scored(baseline, name)
    paired = [sample_id for sample_id in cur if sample_id in base]
    result = Comparison(
        metric=name,
        higher_is_better=metric.higher_is_better,
        level=level,
        tolerance=tolerance,
        n_paired=len(paired),
        only_in_current=[i for i in cur if i not in base],
        only_in_baseline=[i for i in base if i not in cur],
    )
    if not paired:
        result.note = f"no sample is scored for {name} in both runs: nothing to compare"
        return result
    cur_rows = [cur[i] for i in paired]
    base_rows = [base[i] for i in paired]
    sign = 1.0 if metric.higher_is_better else -1.0
    if isinstance(metric, CorpusMetric):
        reason = metric.unavailable(context)
        if reason is not None:
            result.note = f"{name} cannot be recomputed here ({reason}): not compared"
            return result
        cur_preds = [str(r.prediction or "") for r in cur_rows]
        base_preds = [str(r.prediction or "") for r in base_rows]
        cur_refs = [list(r.references) for r in cur_rows]
        base_refs = [list(r.references) for r in base_rows]

        def cur_values(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            return metric.corpus_scores(cur_preds, cur_refs, context, weights)

        def base_values(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            return metric.corpus_scores(base_preds, base_refs, context, weights)

        value, cur_boot = _resampled(cur_values, len(paired), seed, resamples)
        cur_scores = metric.sample_scores(cur_preds, cur_refs, context)  # while its corpus is cached
        baseline_value, base_boot = _resampled(base_values, len(paired), seed, resamples)
        base_scores = metric.sample_scores(base_preds, base_refs, context)
        p_value = _bootstrap_p(sign * (cur_boot - base_boot))
        test = "paired_bootstrap"
    else:
        import numpy as np

        cur_stats = _matrix([r.stats[name] for r in cur_rows])
        base_stats = _matrix([r.stats[name] for r in base_rows])
        if cur_stats.shape != base_stats.shape:
            raise AudioLLMError(
                f"the per-sample statistics of {name} have {cur_stats.shape[1]} columns here but "
                f"{base_stats.shape[1]} in the baseline: the metric changed; run the baseline again"
            )
        value = float(metric.corpus(cur_stats.sum(axis=0)))
        baseline_value = float(metric.corpus(base_stats.sum(axis=0)))
        correct = _binary(metric, cur_stats, base_stats)
        if correct is not None:
            cur_ok, base_ok = correct
            result.right_to_wrong = [i for i, c, b in zip(paired, cur_ok, base_ok, strict=True) if b and not c]
            result.wrong_to_right = [i for i, c, b in zip(paired, cur_ok, base_ok, strict=True) if c and not b]
            p_value = mcnemar_p(len(result.right_to_wrong), len(result.wrong_to_right))
            test = "mcnemar"
            cur_scores = base_scores = []
        else:
            _, cur_boot = _resampled(lambda w: metric.corpus(w @ cur_stats), len(paired), seed, resamples)
            _, base_boot = _resampled(lambda w: metric.corpus(w @ base_stats), len(paired), seed, resamples)
            p_value = _bootstrap_p(sign * (cur_boot - base_boot))
            test = "paired_bootstrap"
            cur_scores = [metric.sample_score(row) for row in np.asarray(cur_stats).tolist()]
            base_scores = [metric.sample_score(row) for row in np.asarray(base_stats).tolist()]
    delta = value - baseline_value
    worse = math.isfinite(delta) and sign * delta < -tolerance
    result.value = _finite(value)
    result.baseline_value = _finite(baseline_value)
    result.delta = _finite(delta)
    result.p_value = p_value
    result.test = test
    result.regressed = bool(worse and p_value < level)
    if cur_scores:
        result.largest_drops, result.largest_rises = _largest_changes(paired, cur_scores, base_scores, sign)
    return result


def mcnemar_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """Exact one-sided McNemar p-value for "worse": ``P(X >= right_to_wrong)``, ``X ~ Bin(discordant, 1/2)``."""
    n = right_to_wrong + wrong_to_right
    if n == 0:
        return 1.0
    return min(1.0, sum(math.comb(n, k) for k in range(right_to_wrong, n + 1)) / (1 << n))


def _scored(samples: Sequence[SampleRecord], name: str) -> dict[str, SampleRecord]:
    """Samples scored for ``name`` by id (in order; a repeated id keeps its first sample)."""
    out: dict[str, SampleRecord] = {}
    for sample in samples:
        if sample.stats.get(name) is not None and sample.id not in out:
            out[sample.id] = sample
    return out


def _matrix(rows: Sequence[Sequence[float | None]]) -> npt.NDArray[np.float64]:
    import numpy as np

    values = [[math.nan if x is None else float(x) for x in row] for row in rows]
    if len({len(v) for v in values}) > 1:
        raise AudioLLMError("samples of one run have per-sample statistics of different lengths: not a valid run")
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)


def _binary(
    metric: Metric, cur: npt.NDArray[np.float64], base: npt.NDArray[np.float64]
) -> tuple[list[bool], list[bool]] | None:
    """Per-sample correctness of both runs for a 0/1 metric (stats ``correct, count, ...``), else None."""
    if tuple(metric.stat_names[:2]) != ("correct", "count") or cur.shape[1] < 2:
        return None
    for stats in (cur, base):
        if not ((stats[:, 1] == 1).all() and ((stats[:, 0] == 0) | (stats[:, 0] == 1)).all()):
            return None
    return [bool(x) for x in cur[:, 0]], [bool(x) for x in base[:, 0]]


def _resampled(
    values_for: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]], n: int, seed: int, resamples: int
) -> tuple[float, npt.NDArray[np.float64]]:
    """The value for all-ones weights and the values of the seeded resamples (the draws of ``stats.bootstrap``).

    The same ``(n, seed, resamples)`` give the same weights, so two calls make a paired bootstrap.
    """
    import numpy as np

    value = float(np.asarray(values_for(np.ones((1, n), dtype=np.float64)))[0])
    values = np.full(max(resamples, 0), np.nan, dtype=np.float64)
    if resamples <= 0 or n <= 1:
        return value, values  # no resampling: no evidence either way (p = 1)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start).astype(np.float64)
        values[start:stop] = values_for(counts)
    return value, values


def _bootstrap_p(deltas: npt.NDArray[np.float64]) -> float:
    """``(1 + #{delta_b >= 0}) / (1 + B)`` over the finite signed deltas (positive = better); 1 when none."""
    import numpy as np

    finite = deltas[np.isfinite(deltas)]
    if finite.size == 0:
        return 1.0
    return float((1 + int((finite >= 0).sum())) / (1 + finite.size))


def _largest_changes(
    ids: Sequence[str], cur: Sequence[float], base: Sequence[float], sign: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    changes = [
        (sign * (c - b), i, c, b)
        for i, c, b in zip(ids, cur, base, strict=True)
        if math.isfinite(c) and math.isfinite(b) and c != b
    ]

    def entry(change: tuple[float, str, float, float]) -> dict[str, Any]:
        return {"id": change[1], "value": change[2], "baseline_value": change[3], "delta": change[2] - change[3]}

    drops = [entry(c) for c in sorted((c for c in changes if c[0] < 0), key=lambda c: (c[0], c[1]))]
    rises = [entry(c) for c in sorted((c for c in changes if c[0] > 0), key=lambda c: (-c[0], c[1]))]
    return drops[:FLIPS_SHOWN], rises[:FLIPS_SHOWN]


def values_only(
    name: str, info: MetricRecord, base_info: MetricRecord, level: float, tolerance: float | None, note: str
) -> Comparison:
    """A comparison of the two values alone (no per-sample values to pair: no significance test)."""
    value, baseline_value = info.value, base_info.value
    delta = None
    if isinstance(value, int | float) and isinstance(baseline_value, int | float):
        delta = _finite(float(value) - float(baseline_value))
    return Comparison(
        metric=name,
        value=value,
        baseline_value=baseline_value,
        delta=delta,
        higher_is_better=info.higher_is_better,
        level=level,
        tolerance=tolerance,
        n_paired=None,
        note=note,
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
