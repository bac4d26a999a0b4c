"""A generation gate: the metric over the run, what it was computed from, and its confidence interval.

Per-file metrics (``FileMetric``) are means over the generated files with the seeded bootstrap 95% CI of the text
metrics (``--audiollm-seed``, ``--audiollm-bootstrap``). Distribution metrics (``DistributionMetric``) get a CI
only when ``generation.bootstrap: N`` asks: N resamples, drawn with replacement from the generated files and,
independently, from the reference files (seeded with ``--audiollm-seed``), each recomputing the distance over the
cached embeddings; the CI is the 2.5 and 97.5 percentiles of the finite values, shifted by the resampling bias
(see :func:`_bootstrap_distance`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.metrics.generation.protocol import DistanceSettings, DistributionMetric, FileMetric, TooFew

if TYPE_CHECKING:
    from pytest_audiollm.features.frontend import FileFeatures
    from pytest_audiollm.metrics.generation.protocol import AudioMetric, DistanceValue
    from pytest_audiollm.records import GateRecord, SampleRecord
    from pytest_audiollm.tasks.cases import GateCase
    from pytest_audiollm.tasks.generation.run import GenerationRun

__all__ = ["distance_settings", "evaluate_generation_metric"]


def distance_settings(run: GenerationRun) -> DistanceSettings:
    s = run.settings
    return DistanceSettings(kid_subsets=s.kid_subsets, kid_subset_size=s.kid_subset_size, isc_splits=s.isc_splits,
                            seed=s.seed)  # fmt: skip


def evaluate_generation_metric(
    gate: GateCase, record: GateRecord, run: GenerationRun, records: list[SampleRecord], *, seed: int, resamples: int
) -> GateRecord:
    """Fill ``record`` with ``gate.metric`` of the run (skip_reason says why when it cannot be computed)."""
    metric: AudioMetric = run.metrics[gate.metric]
    paired, mode_reason = run.paired()
    gen_unpaired, ref_unpaired = run.unpaired_lists()
    record.version = metric.version
    record.higher_is_better = metric.higher_is_better
    record.excluded = sorted(run.excluded)
    record.model_errors = sum(1 for r in records if r.error_kind == "model")
    record.labels = {"preset": run.preset.name}
    extras: dict[str, Any] = {
        "excluded_reasons": dict(sorted(run.excluded.items())),
        "preset": run.preset.to_json(),
        "mode": "paired" if paired else "unpaired",
        "mode_reason": mode_reason,
        "definition": metric.description,
    }
    if paired and (gen_unpaired or ref_unpaired):
        extras["unpaired_generated"] = gen_unpaired
        extras["unpaired_reference"] = ref_unpaired
    record.extras = extras
    label = f"{gate.metric} of {gate.spec.name} on {gate.model}"
    if metric.paired and not paired:
        record.skip_reason = (
            f"{label} skipped: {gate.metric} compares each generated file with its reference partner, and this run "
            f"is unpaired ({mode_reason}); set generation.mode: paired to pair what shares a name"
        )
        return _finish(record)
    if metric.backbone in ("cnn14", "vggish"):
        rate = run.settings.sample_rate if metric.backbone == "cnn14" else 16000
        try:
            run.bank.embedder(metric.backbone, rate)
            name = run.bank.checkpoint_name(metric.backbone, rate)
            extras["backbone"] = {"name": name, "checkpoint_sha256": run.bank.digest(metric.backbone, rate),
                                  "official": run.bank.official.get(name, False)}  # fmt: skip
        except AudioLLMError as exc:
            record.skip_reason = f"{label} skipped: {exc}"
            return _finish(record)
    if isinstance(metric, FileMetric):
        _per_file(gate, record, records, seed=seed, resamples=resamples)
    elif isinstance(metric, DistributionMetric):
        _distribution(metric, record, run, seed=seed)
    else:
        record.error = f"{gate.metric} is neither a FileMetric nor a DistributionMetric: it cannot be computed"
    if record.skip_reason is not None:
        record.skip_reason = f"{label} skipped: {record.skip_reason}"
    elif record.value is not None:
        shown = f"{gate.metric} = {record.value:.4f}"
        if record.ci95 is not None and record.ci95[0] is not None and record.ci95[1] is not None:
            shown += f" (95% CI {record.ci95[0]:.4f}..{record.ci95[1]:.4f})"
        shown += f" on {record.n} generated"
        if "n_reference" in extras:
            shown += f" vs {extras['n_reference']} reference"
        shown += f" files ({extras['mode']}, preset {run.preset.name})"
        if extras.get("std") is not None:
            shown += f", std {extras['std']:.4f}"
        if run.excluded:
            shown += f"; {len(run.excluded)} generated file(s) left out"
        record.shown = shown
    return _finish(record)


def _finish(record: GateRecord) -> GateRecord:
    record.extras["warnings"] = list(record.warnings)
    return record


def _per_file(gate: GateCase, record: GateRecord, records: list[SampleRecord], *, seed: int, resamples: int) -> None:
    """The mean over files of a FileMetric and its bootstrap CI over files."""
    from pytest_audiollm.metrics.stats import aggregate
    from pytest_audiollm.tasks.generation.compare import PerFileMean

    scored = [r for r in records if gate.metric in r.scores and math.isfinite(float(r.scores[gate.metric]))]
    record.n = len(scored)
    record.bootstrap = {"resamples": resamples, "seed": seed}
    if not scored:
        notes = sorted({(r.notes or {}).get(gate.metric) or (r.notes or {}).get("pair", "") for r in records} - {""})
        record.skip_reason = "no generated file produced a value" + (f" ({'; '.join(notes)})" if notes else "")
        return
    agg = aggregate(PerFileMean(gate.metric, record.higher_is_better),
                    [[float(r.scores[gate.metric]), 1.0] for r in scored], seed=seed, resamples=resamples)  # fmt: skip
    record.value = round(agg.value, 12)
    record.ci95 = [_clean(agg.ci95[0]), _clean(agg.ci95[1])]
    record.sample_scores = {r.id: float(r.scores[gate.metric]) for r in scored}


def _distribution(metric: DistributionMetric, record: GateRecord, run: GenerationRun, *, seed: int) -> None:
    """The value of a distribution metric (and its bootstrap CI when generation.bootstrap asks for one)."""
    from pytest_audiollm.metrics.generation.catalog import outlier_scores

    generated = [run.generated[k] for k in sorted(run.generated)]
    references = run.all_reference_features()
    extras = record.extras
    if run.reference_excluded:
        extras["reference_excluded"] = dict(sorted(run.reference_excluded.items()))
        record.warnings.append(
            f"{len(run.reference_excluded)} reference file(s) could not be used and are left out of the reference "
            f"distribution: {', '.join(sorted(run.reference_excluded)[:5])}"
        )
    if not generated:
        record.skip_reason = "no generated file passed its checks"
        return
    settings = distance_settings(run)
    try:
        value: DistanceValue = metric.distance(generated, references, settings)
    except TooFew as exc:
        record.skip_reason = str(exc)
        return
    record.value = round(value.value, 12)
    record.n = value.n_generated
    extras.update(n_reference=value.n_reference, std=value.std)
    extras["computation"] = value.details  # route, dimension, subsets, bandwidth...: in the results, not the table
    record.warnings.extend(value.warnings)
    resamples = run.settings.bootstrap
    if resamples > 0:
        record.ci95, bias = _bootstrap_distance(metric, generated, references, settings, resamples, seed, value.value)
        record.bootstrap = {"resamples": resamples, "seed": seed}
        extras["bootstrap"] = {"resamples": resamples, "seed": seed, "bias": bias}
    if metric.outliers:
        scores = outlier_scores(generated, references, metric.backbone or "cnn14")
        worst = sorted(scores.items(), key=lambda kv: -kv[1])[: run.settings.outliers]
        extras["outliers"] = [{"file": k, "score": v} for k, v in worst]
        extras["outlier_scores"] = scores


def _bootstrap_distance(
    metric: DistributionMetric,
    generated: list[FileFeatures],
    references: list[FileFeatures],
    settings: DistanceSettings,
    resamples: int,
    seed: int,
    value: float,
) -> tuple[list[float | None], float | None]:
    """95% CI of ``metric`` from ``resamples`` resamples (with replacement) of both sets, and the resampling bias.

    A resample repeats files, and repeated files inflate every distance (FD's covariance loses rank, MMD's
    within-set terms grow), so the resampled values sit above the value itself. The interval is their 2.5 and
    97.5 percentiles shifted by that bias (their mean minus the value): the spread of the distance at this N
    around the value. The distance's own small-sample bias stays in the value: compare runs at equal N.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    values = np.full(resamples, np.nan)
    for b in range(resamples):
        gen = [generated[i] for i in rng.integers(0, len(generated), len(generated))]
        ref = [references[i] for i in rng.integers(0, len(references), len(references))] if references else []
        try:
            values[b] = metric.distance(gen, ref, settings).value
        except (TooFew, ValueError, np.linalg.LinAlgError):
            continue  # a degenerate resample (too few distinct files): left out of the interval
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [None, None], None
    bias = float(np.mean(finite)) - value
    low, high = np.percentile(finite, [2.5, 97.5]) - bias
    return [_clean(float(low)), _clean(float(high))], _clean(bias)


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 12)
