"""What generation items and gates do: check and embed one generated file; compute one metric of a run."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.errors import AudioLLMError, SampleError
from pytest_audiollm.generation.run import BackboneBank, GenerationRun
from pytest_audiollm.generation.task import GENERATION_METRICS
from pytest_audiollm.state import case_key, gate_key, gate_result_key, row_key, state_key

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.data_spec import DataSpec
    from pytest_audiollm.benchmarks.sample import Sample
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.cases import Case
    from pytest_audiollm.generation.frontend import Clip
    from pytest_audiollm.state import AudioLLMState

__all__ = ["GenerationState", "list_generated_files", "run_generation_gate", "run_generation_item"]

CLAP_ENV = "AUDIOLLM_CLAP_CHECKPOINT"


def list_generated_files(data: DataSpec, benchmark: str, limit: int | None = None) -> list[Sample]:
    """Every audio file under a generated folder, sorted by relative path; the id is that path."""
    from pytest_audiollm.benchmarks.sample import AudioRef, Sample
    from pytest_audiollm.benchmarks.sources import AUDIO_EXTENSIONS, sanitize_id
    from pytest_audiollm.errors import SpecError

    root = data.resolve()
    if not root.is_dir():
        raise SpecError(data.source, "data.generated", f"{root} is not a folder of generated audio")
    files = sorted(
        (p.relative_to(root).as_posix() for p in root.rglob("*")
         if p.is_file() and not p.name.startswith(".") and p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS),
    )  # fmt: skip
    samples = [
        Sample(id=sanitize_id(rel), audio=AudioRef(str(root / rel)), references=(), benchmark=benchmark,
               meta={"file": rel})
        for rel in files
    ]  # fmt: skip
    return samples if limit is None else samples[:limit]


@dataclass
class GenerationState:
    """This process's generation runs, embedding networks, embedding cache, generated-audio folder and CLAP."""

    device: str = "cpu"
    runs: dict[tuple[str, str, str], GenerationRun] = field(default_factory=dict)
    bank: BackboneBank = field(default_factory=BackboneBank)
    cache: Any = None
    output_dir: Path | None = None
    generated_paths: dict[tuple[tuple[str, str, str], str], Path] = field(default_factory=dict)
    clap: Any = None
    clap_error: str | None = None
    prompt_tables: dict[str, dict[str, str]] = field(default_factory=dict)  # data.prompts file -> text by file

    def __post_init__(self) -> None:
        self.bank = BackboneBank(self.device)
        if os.environ.get("AUDIOLLM_NO_EMBEDDING_CACHE") != "1":
            from pytest_audiollm.generation.embedding_cache import EmbeddingCache

            self.cache = EmbeddingCache()

    def run_for(self, spec: BenchmarkSpec, system: str, owner: str) -> GenerationRun:
        key = (owner, system, spec.name)
        if key not in self.runs:
            self.runs[key] = _new_run(spec, system, self)
        return self.runs[key]

    def clap_scorer(self, spec: BenchmarkSpec) -> Any:
        if self.clap is None and self.clap_error is None:
            assert spec.generation is not None
            checkpoint = spec.generation.clap_checkpoint or os.environ.get(CLAP_ENV)
            if not checkpoint:
                self.clap_error = (
                    f"clap_score needs a CLAP checkpoint: set generation.clap_checkpoint in {spec.source or spec.name} "
                    f"or ${CLAP_ENV} to a local transformers CLAP directory (e.g. laion/clap-htsat-unfused)"
                )
            else:
                from pytest_audiollm.generation.clap_score import ClapScorer

                scorer = ClapScorer(checkpoint, device=self.device)
                try:
                    scorer.load()
                except AudioLLMError as exc:
                    self.clap_error = str(exc)
                else:
                    self.clap = scorer
        return self.clap

    def close(self) -> None:
        self.bank.close()
        if self.clap is not None:
            self.clap.unload()
            self.clap = None


def _new_run(spec: BenchmarkSpec, system: str, gen: GenerationState) -> GenerationRun:
    from pytest_audiollm.benchmarks.sources import list_samples
    from pytest_audiollm.generation.frontend import PRESETS

    settings = spec.generation
    assert settings is not None
    run = GenerationRun(spec=spec, system=system, bank=gen.bank, cache=gen.cache)
    preset = PRESETS[settings.preset]
    if settings.folder_mode:
        assert settings.reference is not None
        for sample in list_generated_files(settings.reference, spec.name):
            assert sample.audio is not None
            run.references[preset.pair_key(sample.meta["file"])] = Path(sample.audio.path)
        run.generated_keys = [
            preset.pair_key(s.meta["file"]) for s in list_generated_files(settings.systems[system], "")
        ]
    else:
        for sample in list_samples(spec.data, spec.name):
            if sample.audio is not None and sample.error is None:
                run.references[sample.id] = Path(sample.audio.path)
            run.generated_keys.append(sample.id)
    return run


def generation_state(state: AudioLLMState) -> GenerationState:
    if state.generation is None:
        state.generation = GenerationState(device=state.settings.device if state.settings.device != "auto" else "cpu")
    generation: GenerationState = state.generation
    return generation


# --- items ------------------------------------------------------------------------------------------------


def _generated_file(item: pytest.Item, case: Case, gen: GenerationState) -> tuple[Path, str]:
    """The generated file of this item and its pairing key (generating it, and the next few, for a generator)."""
    from pytest_audiollm.generation.frontend import PRESETS

    assert case.spec.generation is not None
    if case.spec.generation.folder_mode:
        assert case.sample.audio is not None
        return Path(case.sample.audio.path), PRESETS[case.spec.generation.preset].pair_key(case.sample.meta["file"])
    from pytest_audiollm.runner import acquire_model

    state = item.config.stash[state_key]
    model = acquire_model(item, case)  # loaded already: run_generation_item acquired it first
    key = (case.run_key, case.sample.id)
    if key not in gen.generated_paths:
        batch = [c for c in state.plan.upcoming(case, state.settings.batch_size)
                 if (c.run_key, c.sample.id) not in gen.generated_paths]  # fmt: skip
        for chunk in ([batch] if len(batch) > 1 else []) + [[case]]:
            try:
                _generate(model, chunk, gen)
                break
            except Exception as exc:
                if chunk == [case]:
                    raise GenerationFailed(f"{type(exc).__name__}: {exc}") from exc
    return gen.generated_paths[key], case.sample.id


class GenerationFailed(Exception):
    """The generator raised or returned something that is not audio for this prompt."""


def _generate(model: Any, cases: list[Case], gen: GenerationState) -> None:
    import numpy as np
    import soundfile as sf

    prompts = [c.spec.render_prompt(c.sample.prompt) for c in cases]
    waves = list(model.generate(prompts))
    if len(waves) != len(cases):
        raise GenerationFailed(f"generate() returned {len(waves)} waveforms for {len(cases)} prompts")
    if gen.output_dir is None:
        root = os.environ.get("AUDIOLLM_ARTIFACTS")
        gen.output_dir = Path(root) / "generated" if root else Path(tempfile.mkdtemp(prefix="audiollm-generated-"))
    for case, wave in zip(cases, waves, strict=True):
        folder = gen.output_dir / case.model.replace("/", "_").replace(":", "_") / case.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{case.sample.id}.wav"
        array = np.asarray(wave, dtype=np.float32).reshape(-1)
        sf.write(str(path), array, int(model.sample_rate), subtype="FLOAT")
        gen.generated_paths[(case.run_key, case.sample.id)] = path


def run_generation_item(item: pytest.Item) -> None:
    state = item.config.stash[state_key]
    case: Case = item.stash[case_key]
    gen = generation_state(state)
    run = gen.run_for(case.spec, case.model, case.owner)
    assert case.spec.generation is not None
    if not case.spec.generation.folder_mode:
        from pytest_audiollm.runner import acquire_model

        acquire_model(item, case, record=True)  # a generator that cannot load leaves its not-run row and skips
    row: dict[str, Any] = {
        "index": state.plan.position.get(id(case), 0), "id": case.sample.id, "model": case.model,
        "benchmark": case.spec.name, "owner": case.owner, "nodeid": item.nodeid, "prediction": None,
        "references": [], "scores": {}, "stats": {}, "score_errors": {}, "error": None, "error_kind": None,
        "latency_s": 0.0, "audio": {},
    }  # fmt: skip
    state.rows[case.run_key].append(row)
    item.stash[row_key] = row
    started = time.perf_counter()
    failure: SampleError | GenerationFailed | None = None
    try:
        if case.sample.error:  # a bad manifest line: its prompt is not generated
            raise SampleError(case.sample.error)
        path, key = _generated_file(item, case, gen)
        row["prediction"] = str(path)
        clip = run.clip(path, key)
    except (SampleError, GenerationFailed) as exc:
        failure = exc
    if failure is not None:
        kind = "data" if isinstance(failure, SampleError) else "model"
        row.update(error=str(failure), error_kind=kind, latency_s=time.perf_counter() - started)
        run.excluded[case.sample.id] = str(failure)
        item.user_properties.append(("audiollm.error", str(failure)))
        pytest.fail(f"{'generated file' if kind == 'data' else 'generator'} error: {failure}", pytrace=False)
    # the generated file (not "audio": a run's data checksum covers the prompts and references, not the outputs)
    row["generated"] = {"duration_s": round(clip.duration_s, 6), "sample_rate": clip.sample_rate,
                        "channels": clip.channels, "sha256": clip.sha256}  # fmt: skip
    try:
        notes = _score_file(case, clip, key, run, gen, row)
    except Exception as exc:  # the file passed its checks but a network or metric refused it: this item only
        run.generated.pop(key, None)
        run.excluded[case.sample.id] = f"{type(exc).__name__}: {exc}"
        row.update(error=run.excluded[case.sample.id], error_kind="data", latency_s=time.perf_counter() - started)
        pytest.fail(f"generated file error: {path}: {type(exc).__name__}: {exc}", pytrace=False)
    row["stats"] = {name: [value, 1.0] for name, value in row["scores"].items()}  # for baseline comparisons
    row["latency_s"] = time.perf_counter() - started
    if notes:
        row["notes"] = notes
    props = item.user_properties
    props += [("audiollm.model", case.model), ("audiollm.benchmark", case.spec.name),
              ("audiollm.sample", case.sample.id), ("audiollm.generated", str(path))]  # fmt: skip
    for name, value in row["scores"].items():
        props.append((f"audiollm.score.{name}", f"{value:.6g}"))


def _score_file(
    case: Case, clip: Clip, key: str, run: GenerationRun, gen: GenerationState, row: dict[str, Any]
) -> dict[str, str]:
    """Embed the file into the run's distribution, score it against its partner; notes for what is left out."""
    features = run.add_generated(clip)
    notes: dict[str, str] = {}
    paired, _ = run.paired()
    if paired and any(GENERATION_METRICS[m].paired for m in case.spec.metrics):
        ref = run.reference_clip(key)
        if ref is None:
            why = run.reference_excluded.get(key, "no reference file with this name")
            notes["pair"] = f"no usable reference partner: {why}"
        else:
            from pytest_audiollm.generation.scores import pair_scores

            row["references"] = [key]  # the partner's pairing key (stable across machines); its path next
            row["reference_path"] = ref.path
            ref_features = run.reference_feature(key, ref)
            scores, pair_notes = pair_scores(case.spec.metrics, clip, ref, features, ref_features,
                                             run.settings.sample_rate)  # fmt: skip
            row["scores"].update(scores)
            notes.update(pair_notes)
    if "clap_score" in case.spec.metrics:
        _clap(case, clip, gen, row, notes)
    return notes


def _clap(case: Case, clip: Clip, gen: GenerationState, row: dict[str, Any], notes: dict[str, str]) -> None:
    assert case.spec.generation is not None
    text = _prompt_text(case, gen)
    if not text:
        notes["clap_score"] = "no text prompt for this file (folder mode: list prompts in data.prompts)"
        return
    scorer = gen.clap_scorer(case.spec)
    if scorer is None:
        notes["clap_score"] = gen.clap_error or "CLAP unavailable"
        return
    rate = 48000
    row["scores"]["clap_score"] = float(scorer.score([text], [clip.at(rate)], rate)[0])


def _prompt_text(case: Case, gen: GenerationState) -> str:
    settings = case.spec.generation
    assert settings is not None
    if not settings.folder_mode:
        return case.spec.render_prompt(case.sample.prompt)
    if settings.prompts is None:
        return ""
    from pytest_audiollm.benchmarks.sources import list_samples

    where = str(settings.prompts.resolve())
    table = gen.prompt_tables.get(where)
    if table is None:
        table = {}
        for sample in list_samples(settings.prompts, case.spec.name):
            text = sample.prompt or (sample.references[0] if sample.references else "")
            table[sample.id] = text
            if sample.audio is not None:
                table[Path(sample.audio.path).name] = text
        gen.prompt_tables[where] = table
    file = case.sample.meta.get("file", "")
    return table.get(Path(file).name) or table.get(Path(file).stem) or table.get(case.sample.id, "")


def iter_generation_runs(state: AudioLLMState) -> Iterator[GenerationRun]:
    gen = state.generation
    if gen is not None:
        yield from gen.runs.values()


def run_generation_gate(item: pytest.Item) -> None:
    from pytest_audiollm.generation.gate import evaluate_generation_gate

    state = item.config.stash[state_key]
    gate = item.stash[gate_key]
    gen = generation_state(state)
    run = gen.run_for(gate.spec, gate.model, gate.owner)
    verdict = evaluate_generation_gate(gate, run, state.rows.get(gate.run_key, []), state.plan.expected(gate.run_key))
    verdict.result["message"] = verdict.message
    verdict.result["scoring"] = {"task": "generation", "preset": run.preset.name,
                                 "sample_rate": run.settings.sample_rate}  # fmt: skip
    comparison = None
    if not verdict.skipped and verdict.result["value"] is not None:
        from pytest_audiollm.generation.baseline import generation_baseline

        comparison = generation_baseline(state, gate, state.rows.get(gate.run_key, []), verdict.result)
        if comparison is not None:
            verdict.result["baseline"] = comparison
    if state.pool is not None and gate.model in state.pool.sessions:
        verdict.result["model_stats"] = state.pool.sessions[gate.model].stats.to_json()
    item.stash[gate_result_key] = verdict.result
    for message in verdict.result.get("warnings", []):
        warnings.warn(message, UserWarning, stacklevel=1)
    props = item.user_properties
    props += [("audiollm.model", gate.model), ("audiollm.benchmark", gate.spec.name), ("audiollm.metric", gate.metric),
              ("audiollm.n", str(verdict.result["n"])), ("audiollm.preset", run.preset.name)]  # fmt: skip
    if verdict.result["value"] is not None:
        props.append(("audiollm.value", f"{verdict.result['value']:.6g}"))
    if gate.condition is not None:
        props.append(("audiollm.threshold", str(gate.condition)))
    if verdict.skipped:
        raise pytest.skip.Exception(verdict.message, _use_item_location=True)
    failures = [verdict.message] if verdict.passed is False else []
    if comparison is not None and comparison.get("error"):
        failures.append(f"cannot compare with the baseline: {comparison['error']}")
    elif comparison is not None and comparison.get("regressed"):
        from pytest_audiollm.regression import regression_message

        failures.append(regression_message(comparison))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
