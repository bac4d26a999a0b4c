"""Comparing a run with a baseline run: pairing by sample id, paired significance tests, flipped samples.

Pure functions over results documents (schema 1, see README "Results JSON") and result rows; the plugin's
``--audiollm-baseline`` gates and ``python -m pytest_audiollm compare`` both use them.

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

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.metrics.protocol import CorpusMetric, Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.metrics.protocol import AnyMetric
    from pytest_audiollm.registry import MetricRegistry

SCHEMA = 1
FLIPS_SHOWN = 10  # samples listed in largest_drops / largest_rises


def load_results(path: str | Path) -> dict[str, Any]:
    """The results document at ``path``, checked to be a schema-1 pytest-audiollm results file."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AudioLLMError(
            f"results file {str(target)!r} does not exist: pass the path of a JSON file written by "
            f"pytest --audiollm-results FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AudioLLMError(f"cannot read results file {str(target)!r}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AudioLLMError(
            f"{str(target)!r} is not a results file: it is not valid JSON ({exc}); pass a file written by "
            f"pytest --audiollm-results FILE"
        ) from None
    if not isinstance(document, dict) or "schema" not in document or "runs" not in document:
        raise AudioLLMError(
            f"{str(target)!r} is not a pytest-audiollm results file (no 'schema' and 'runs' keys): pass a file "
            f"written by pytest --audiollm-results FILE"
        )
    if document["schema"] != SCHEMA:
        raise AudioLLMError(
            f"{str(target)!r} has results schema {document['schema']!r}, but this pytest-audiollm reads schema "
            f"{SCHEMA}: write it again with this version (pytest --audiollm-results FILE)"
        )
    runs = document["runs"]
    required = ("model", "benchmark", "metrics", "samples")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and all(k in r for k in required) for r in runs):
        raise AudioLLMError(
            f"{str(target)!r} is not a valid schema-1 results file: every entry of 'runs' must be an object "
            f"with {', '.join(required)}; write it again with pytest --audiollm-results FILE"
        )
    for run in runs:
        if not isinstance(run["samples"], list) or not all(isinstance(s, dict) and "id" in s for s in run["samples"]):
            raise AudioLLMError(
                f"{str(target)!r} is not a valid schema-1 results file: the samples of run "
                f"{run['model']} / {run['benchmark']} must be objects with an 'id'"
            )
    return document


def select_run(document: Mapping[str, Any], benchmark: str, model: str) -> dict[str, Any] | None:
    """The baseline run for ``(benchmark, model)`` in a results document, or None when it has no such benchmark.

    The run of the same model is preferred; otherwise the only run of that benchmark is taken. Several runs of
    the benchmark, none (or more than one) of them of ``model``, raise :class:`AudioLLMError`.
    """
    candidates = [r for r in document.get("runs", []) if r.get("benchmark") == benchmark]
    if not candidates:
        return None
    same = [r for r in candidates if r.get("model") == model]
    if len(same) == 1:
        return dict(same[0])
    if len(candidates) == 1:
        return dict(candidates[0])
    models = ", ".join(sorted(str(r.get("model")) for r in candidates))
    raise AudioLLMError(
        f"the baseline has {len(candidates)} runs of benchmark {benchmark!r} (models: {models}) and "
        f"{'several' if same else 'none'} of them of model {model!r}, so which one to compare with is "
        f"ambiguous: pass a baseline results file with one run per benchmark, or one run of {model!r}"
    )


def identity_mismatch(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> str | None:
    """Why ``current`` cannot be compared with the ``baseline`` run, or None when it can.

    ``current`` is a run or a run-like dict with ``benchmark_version``, ``data_checksum`` and ``metrics``
    (``{name: {"version": ...}}``; only the metrics named there are checked) and optionally ``scoring`` and
    ``benchmark``. A different benchmark version, data checksum, metric version or scoring settings is a
    mismatch: the numbers would not measure the same thing. Keys missing or empty on either side are not
    checked.
    """
    name = current.get("benchmark") or baseline.get("benchmark") or "the benchmark"
    fix = "run the baseline again on the same data and versions, or compare with a baseline that matches"
    cur_version, base_version = current.get("benchmark_version"), baseline.get("benchmark_version")
    if cur_version and base_version and str(cur_version) != str(base_version):
        return (
            f"cannot compare with the baseline: {name} is version {cur_version!r} here but {base_version!r} in "
            f"the baseline run (model {baseline.get('model')!r}); {fix}"
        )
    cur_sum, base_sum = current.get("data_checksum"), baseline.get("data_checksum")
    if cur_sum and base_sum and cur_sum != base_sum:
        return (
            f"cannot compare with the baseline: the data of {name} differ (data checksum {str(cur_sum)[:12]}... "
            f"here, {str(base_sum)[:12]}... in the baseline run of model {baseline.get('model')!r}: other samples, "
            f"audio or references, or a --audiollm-limit / -k selection); {fix}"
        )
    cur_scoring, base_scoring = current.get("scoring"), baseline.get("scoring")
    if cur_scoring and base_scoring and _jsonish(cur_scoring) != _jsonish(base_scoring):
        return (
            f"cannot compare with the baseline: the scoring settings of {name} differ ({_jsonish(cur_scoring)} "
            f"here, {_jsonish(base_scoring)} in the baseline); {fix}"
        )
    base_metrics = baseline.get("metrics") or {}
    for metric, info in (current.get("metrics") or {}).items():
        base_info = base_metrics.get(metric)
        if not isinstance(info, Mapping) or not isinstance(base_info, Mapping):
            continue
        if info.get("version") and base_info.get("version") and str(info["version"]) != str(base_info["version"]):
            return (
                f"cannot compare with the baseline: metric {metric!r} is version {info['version']!r} here but "
                f"{base_info['version']!r} in the baseline run of {name}, so its values are not comparable; {fix}"
            )
    return None


def context_from_scoring(scoring: Mapping[str, Any], task: str = "") -> ScoringContext:
    """The :class:`ScoringContext` of a run's ``scoring`` record."""
    defaults = ScoringContext(task=task)
    synonyms = scoring.get("synonyms") or {}
    return ScoringContext(
        task=str(scoring.get("task") or task),
        choices=tuple(scoring.get("choices") or ()),
        synonyms={str(k): tuple(v) for k, v in synonyms.items()},
        text_normalizer=str(scoring.get("text_normalizer") or defaults.text_normalizer),
        caption_tokenizer=str(scoring.get("caption_tokenizer") or defaults.caption_tokenizer),
    )


def compare_metric(
    metric: AnyMetric,
    name: str,
    current: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    context: ScoringContext,
    *,
    seed: int,
    resamples: int,
    level: float = 0.05,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """Compare metric ``name`` between the ``current`` and ``baseline`` samples (rows or results samples).

    A sample takes part when ``name`` is in its ``stats`` in both lists (paired by ``id``). Returns a JSON-able
    dict: ``metric``, ``value`` and ``baseline_value`` (corpus values on the paired samples), ``delta``
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
    result: dict[str, Any] = {
        "metric": name,
        "value": None,
        "baseline_value": None,
        "delta": None,
        "higher_is_better": metric.higher_is_better,
        "p_value": None,
        "test": None,
        "level": level,
        "tolerance": tolerance,
        "regressed": False,
        "n_paired": len(paired),
        "only_in_current": [i for i in cur if i not in base],
        "only_in_baseline": [i for i in base if i not in cur],
        "right_to_wrong": [],
        "wrong_to_right": [],
        "largest_drops": [],
        "largest_rises": [],
    }
    if not paired:
        result["note"] = f"no sample is scored for {name} in both runs: nothing to compare"
        return result
    cur_rows = [cur[i] for i in paired]
    base_rows = [base[i] for i in paired]
    sign = 1.0 if metric.higher_is_better else -1.0
    if isinstance(metric, CorpusMetric):
        reason = metric.unavailable(context)
        if reason is not None:
            result["note"] = f"{name} cannot be recomputed here ({reason}): not compared"
            return result
        cur_preds = [str(r.get("prediction") or "") for r in cur_rows]
        base_preds = [str(r.get("prediction") or "") for r in base_rows]
        cur_refs = [list(r.get("references") or []) for r in cur_rows]
        base_refs = [list(r.get("references") or []) for r in base_rows]

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

        cur_stats = _matrix([r["stats"][name] for r in cur_rows])
        base_stats = _matrix([r["stats"][name] for r in base_rows])
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
            result["right_to_wrong"] = [i for i, c, b in zip(paired, cur_ok, base_ok, strict=True) if b and not c]
            result["wrong_to_right"] = [i for i, c, b in zip(paired, cur_ok, base_ok, strict=True) if c and not b]
            p_value = mcnemar_p(len(result["right_to_wrong"]), len(result["wrong_to_right"]))
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
    result |= {
        "value": _finite(value),
        "baseline_value": _finite(baseline_value),
        "delta": _finite(delta),
        "p_value": p_value,
        "test": test,
        "regressed": bool(worse and p_value < level),
    }
    if cur_scores:
        drops, rises = _largest_changes(paired, cur_scores, base_scores, sign)
        result["largest_drops"], result["largest_rises"] = drops, rises
    return result


def compare_runs(
    current_run: Mapping[str, Any],
    baseline_run: Mapping[str, Any],
    registry: MetricRegistry,
    *,
    seed: int,
    resamples: int,
    level: float,
    tolerances: Mapping[str, float | None],
) -> list[dict[str, Any]]:
    """:func:`compare_metric` for every metric with a value in both runs, in the current run's order.

    The scoring context comes from ``current_run["scoring"]``. ``tolerances[name]`` is the allowed worsening
    of that metric (missing: 0.0); ``None`` turns its regression check off (compared, never ``regressed``).
    A metric the registry does not know (another plugin's) is compared by value only: ``test`` and
    ``p_value`` are None and ``note`` says so. Identity is not checked here: call :func:`identity_mismatch`.
    """
    context = context_from_scoring(current_run.get("scoring") or {}, str(current_run.get("task") or ""))
    base_metrics = baseline_run.get("metrics") or {}
    out: list[dict[str, Any]] = []
    for name, info in (current_run.get("metrics") or {}).items():
        if name not in base_metrics:
            continue
        tolerance = tolerances.get(name, 0.0)
        if current_run.get("task") == "generation":
            from pytest_audiollm.generation.baseline import compare_generation_metric, per_file

            if name not in tolerances and not per_file(name):
                tolerance = None  # distribution metrics are gated only when asked to
            samples = current_run.get("samples") or []
            compared = compare_generation_metric(
                name, samples, info, baseline_run, seed=seed, resamples=resamples, level=level, tolerance=tolerance
            )
            out.append(compared)
            continue
        if name not in registry:
            out.append(values_only(name, info, base_metrics[name], level, tolerance))
            continue
        comparison = compare_metric(
            registry.get(name),
            name,
            current_run.get("samples") or [],
            baseline_run.get("samples") or [],
            context,
            seed=seed,
            resamples=resamples,
            level=level,
            tolerance=0.0 if tolerance is None else tolerance,
        )
        if tolerance is None:
            comparison |= {"tolerance": None, "regressed": False}
        out.append(comparison)
    return out


def mcnemar_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """Exact one-sided McNemar p-value for "worse": ``P(X >= right_to_wrong)``, ``X ~ Bin(discordant, 1/2)``."""
    n = right_to_wrong + wrong_to_right
    if n == 0:
        return 1.0
    return min(1.0, sum(math.comb(n, k) for k in range(right_to_wrong, n + 1)) / (1 << n))


def _scored(samples: Sequence[Mapping[str, Any]], name: str) -> dict[str, Mapping[str, Any]]:
    """Samples scored for ``name`` by id (in order; a repeated id keeps its first sample)."""
    out: dict[str, Mapping[str, Any]] = {}
    for sample in samples:
        stats = sample.get("stats") or {}
        if name in stats and stats[name] is not None and str(sample["id"]) not in out:
            out[str(sample["id"])] = sample
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
    name: str, info: Mapping[str, Any], base_info: Mapping[str, Any], level: float, tolerance: float | None
) -> dict[str, Any]:
    value, baseline_value = info.get("value"), base_info.get("value")
    delta = None
    if isinstance(value, int | float) and isinstance(baseline_value, int | float):
        delta = _finite(float(value) - float(baseline_value))
    return {
        "metric": name,
        "value": value,
        "baseline_value": baseline_value,
        "delta": delta,
        "higher_is_better": info.get("higher_is_better"),
        "p_value": None,
        "test": None,
        "level": level,
        "tolerance": tolerance,
        "regressed": False,
        "n_paired": None,
        "only_in_current": [],
        "only_in_baseline": [],
        "right_to_wrong": [],
        "wrong_to_right": [],
        "largest_drops": [],
        "largest_rises": [],
        "note": f"{name} is not a built-in metric (another plugin's): values compared only, no significance test",
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _jsonish(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
