"""A generation sample item: generate (or find) one file, check it, embed it, score it against its partner."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import SampleError
from pytest_audiollm.metrics.generation.protocol import FileMetric, NotScorable, ScoredFile
from pytest_audiollm.records import SampleRecord
from pytest_audiollm.records.sample import ErrorKind
from pytest_audiollm.tasks.generation.state import settings_of

if TYPE_CHECKING:
    from pytest_audiollm.features.frontend import Clip
    from pytest_audiollm.models.session import ModelSession
    from pytest_audiollm.tasks.base import RunContext
    from pytest_audiollm.tasks.cases import Case
    from pytest_audiollm.tasks.generation.run import GenerationRun
    from pytest_audiollm.tasks.generation.state import GenerationState

__all__ = ["GenerationFailed", "run_generation_sample"]


class GenerationFailed(Exception):
    """The generator raised or returned something that is not audio for this prompt."""


def run_generation_sample(case: Case, ctx: RunContext, gen: GenerationState) -> SampleRecord:
    """The record of one generated file: its checks, its features in the run's distribution, its scores."""
    run = gen.run_for(case.spec, case.model, case.owner, ctx.metrics)
    record = SampleRecord(
        id=case.sample.id, model=case.model, benchmark=case.spec.name, owner=case.owner, output="audio",
        index=ctx.plan.index(case),
    )  # fmt: skip
    started = time.perf_counter()
    try:
        if case.sample.error:  # a bad manifest line: its prompt is not generated
            raise SampleError(case.sample.error)
        path, key = _generated_file(case, ctx, gen)
        record.prediction = str(path)
        clip = run.clip(path, key)
    except (SampleError, GenerationFailed) as exc:
        kind: ErrorKind = "data" if isinstance(exc, SampleError) else "model"
        run.excluded[case.sample.id] = str(exc)
        record.error, record.error_kind = str(exc), kind
        record.latency_s = time.perf_counter() - started
        record.status = "failed"
        record.message = f"{'generated file' if kind == 'data' else 'generator'} error: {exc}"
        return record
    # the generated file (not "audio": that is a sample's input, and a generator's input is text)
    record.generated = {"duration_s": round(clip.duration_s, 6), "sample_rate": clip.sample_rate,
                        "channels": clip.channels, "sha256": clip.sha256}  # fmt: skip
    try:
        notes = _score_file(case, clip, key, run, gen, record)
    except Exception as exc:  # the file passed its checks but a network or metric refused it: this item only
        run.generated.pop(key, None)
        record.scores, record.references, record.reference_path = {}, [], None  # out of every metric
        run.excluded[case.sample.id] = f"{type(exc).__name__}: {exc}"
        record.error, record.error_kind = run.excluded[case.sample.id], "data"
        record.latency_s = time.perf_counter() - started
        record.status = "failed"
        record.message = f"generated file error: {path}: {type(exc).__name__}: {exc}"
        return record
    record.stats = {name: [value, 1.0] for name, value in record.scores.items()}  # mean over files, with a CI
    record.latency_s = time.perf_counter() - started
    if notes:
        record.notes = notes
    return record


def _generated_file(case: Case, ctx: RunContext, gen: GenerationState) -> tuple[Path, str]:
    """The generated file of this item and its pairing key (generating it, and the next few, for a generator)."""
    from pytest_audiollm.features.frontend import PRESETS

    settings = settings_of(case.spec)
    if settings.folder_mode:
        assert case.sample.audio is not None
        return Path(case.sample.audio.path), PRESETS[settings.preset].pair_key(case.sample.meta["file"])
    session = ctx.session(case.model)
    key = (case.run_key, case.sample.id)
    if key not in gen.generated_paths:
        size = max(ctx.settings.batch_size, int(getattr(session.model, "min_batch_size", 1) or 1))
        batch = [c for c in ctx.plan.upcoming(case, size) if (c.run_key, c.sample.id) not in gen.generated_paths]
        for chunk in ([batch] if len(batch) > 1 else []) + [[case]]:
            try:
                _generate(session, chunk, gen)
                break
            except Exception as exc:
                if chunk == [case]:
                    raise GenerationFailed(f"{type(exc).__name__}: {exc}") from exc
    return gen.generated_paths[key], case.sample.id


def _generate(session: ModelSession, cases: list[Case], gen: GenerationState) -> None:
    """One ``generate()`` call (timed and memory-probed by the session) for ``cases``; the files are written."""
    import numpy as np
    import soundfile as sf

    prompts = [c.spec.render_prompt(c.sample.prompt) for c in cases]
    waves = list(session.generate(prompts))
    if len(waves) != len(cases):
        raise GenerationFailed(f"generate() returned {len(waves)} waveforms for {len(cases)} prompts")
    if gen.output_dir is None:
        root = os.environ.get("AUDIOLLM_ARTIFACTS")
        gen.output_dir = Path(root) / "generated" if root else Path(tempfile.mkdtemp(prefix="audiollm-generated-"))
    assert session.model is not None
    rate = int(session.model.sample_rate)
    for case, wave in zip(cases, waves, strict=True):
        folder = gen.output_dir / case.model.replace("/", "_").replace(":", "_") / case.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{case.sample.id}.wav"
        array = np.asarray(wave, dtype=np.float32).reshape(-1)
        sf.write(str(path), array, rate, subtype="FLOAT")
        gen.generated_paths[(case.run_key, case.sample.id)] = path


def _score_file(
    case: Case, clip: Clip, key: str, run: GenerationRun, gen: GenerationState, record: SampleRecord
) -> dict[str, str]:
    """Embed the file into the run's distribution, score it (against its partner); notes for what is left out."""
    features = run.add_generated(clip)
    notes: dict[str, str] = {}
    file_metrics = {n: m for n, m in run.metrics.items() if isinstance(m, FileMetric)}
    paired, _ = run.paired()
    scored = ScoredFile(clip=clip, features=features, rate=run.settings.sample_rate, prompt=run.prompts.get(key, ""),
                        clap=lambda: _clap(case, gen))  # fmt: skip
    if paired and any(m.paired for m in file_metrics.values()):
        ref = run.reference_clip(key)
        if ref is None:
            why = run.reference_excluded.get(key, "no reference file with this name")
            notes["pair"] = f"no usable reference partner: {why}"
        else:
            record.references = [key]  # the partner's pairing key (stable across machines); its path next
            record.reference_path = ref.path
            scored.reference, scored.reference_features = ref, run.reference_feature(key, ref)
    for name, metric in file_metrics.items():
        if metric.paired and scored.reference is None:
            continue  # unpaired run (the gate says so) or no partner (the "pair" note)
        try:
            record.scores[name] = float(metric.file_score(scored))
        except NotScorable as exc:
            notes[name] = str(exc)
    return notes


def _clap(case: Case, gen: GenerationState) -> Any:
    scorer = gen.clap_scorer(case.spec)
    if scorer is None:
        raise NotScorable(gen.clap_error or "CLAP unavailable")
    return scorer
