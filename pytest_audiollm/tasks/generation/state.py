"""What the generation kind keeps for one process: its runs, the embedding networks and cache, CLAP, prompts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError, SpecError
from pytest_audiollm.features.bank import BackboneBank
from pytest_audiollm.tasks.generation.run import GenerationRun
from pytest_audiollm.tasks.generation.settings import GenerationSettings

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.data_spec import DataSpec
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.metrics.generation.protocol import AudioMetric
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.sample import Sample
    from pytest_audiollm.tasks.cases import RunKey

__all__ = ["CLAP_ENV", "GenerationState", "list_generated_files", "settings_of"]

CLAP_ENV = "AUDIOLLM_CLAP_CHECKPOINT"


def settings_of(spec: BenchmarkSpec) -> GenerationSettings:
    assert isinstance(spec.settings, GenerationSettings), f"{spec.name} is not a generation benchmark"
    return spec.settings


def list_generated_files(data: DataSpec, benchmark: str, limit: int | None = None) -> list[Sample]:
    """Every audio file under a generated folder, sorted by relative path; the id is that path."""
    from pytest_audiollm.benchmarks.sources import AUDIO_EXTENSIONS, sanitize_id
    from pytest_audiollm.sample import AudioRef, Sample

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
    runs: dict[RunKey, GenerationRun] = field(default_factory=dict)
    bank: BackboneBank = field(default_factory=BackboneBank)
    cache: Any = None
    output_dir: Path | None = None
    generated_paths: dict[tuple[RunKey, str], Path] = field(default_factory=dict)
    clap: Any = None
    clap_error: str | None = None
    prompt_tables: dict[str, dict[str, str]] = field(default_factory=dict)  # data.prompts file -> text by file

    def __post_init__(self) -> None:
        self.bank = BackboneBank(self.device)
        if os.environ.get("AUDIOLLM_NO_EMBEDDING_CACHE") != "1":
            from pytest_audiollm.features.embedding_cache import EmbeddingCache

            self.cache = EmbeddingCache()

    def run_for(self, spec: BenchmarkSpec, system: str, owner: str, metrics: MetricRegistry) -> GenerationRun:
        key = (owner, system, spec.name)
        if key not in self.runs:
            chosen: dict[str, AudioMetric] = {name: metrics.get(name) for name in spec.metrics}  # type: ignore[misc]
            self.runs[key] = _new_run(spec, system, self, chosen)
        return self.runs[key]

    def clap_scorer(self, spec: BenchmarkSpec) -> Any:
        """The CLAP scorer of clap_score (loaded once); None with ``clap_error`` saying why there is none."""
        if self.clap is None and self.clap_error is None:
            checkpoint = settings_of(spec).clap_checkpoint or os.environ.get(CLAP_ENV)
            if not checkpoint:
                self.clap_error = (
                    f"clap_score needs a CLAP checkpoint: set generation.clap_checkpoint in {spec.source or spec.name} "
                    f"or ${CLAP_ENV} to a local transformers CLAP directory (e.g. laion/clap-htsat-unfused)"
                )
            else:
                from pytest_audiollm.models.clap_score import ClapScorer

                scorer = ClapScorer(checkpoint, device=self.device)
                try:
                    scorer.load()
                except AudioLLMError as exc:
                    self.clap_error = str(exc)
                else:
                    self.clap = scorer
        return self.clap

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample) -> str:
        """The text a file was generated from: its rendered prompt, or (folders) its entry in data.prompts."""
        settings = settings_of(spec)
        if not settings.folder_mode:
            return spec.render_prompt(sample.prompt)
        if settings.prompts is None:
            return ""
        from pytest_audiollm.benchmarks.sources import list_samples

        where = str(settings.prompts.resolve())
        table = self.prompt_tables.get(where)
        if table is None:
            table = {}
            for entry in list_samples(settings.prompts, spec.name):
                text = entry.prompt or (entry.references[0] if entry.references else "")
                table[entry.id] = text
                if entry.audio is not None:
                    table[Path(entry.audio.path).name] = text
            self.prompt_tables[where] = table
        file = sample.meta.get("file", "")
        return table.get(Path(file).name) or table.get(Path(file).stem) or table.get(sample.id, "")

    def close(self) -> None:
        self.bank.close()
        if self.clap is not None:
            self.clap.unload()
            self.clap = None


def _new_run(spec: BenchmarkSpec, system: str, gen: GenerationState, metrics: dict[str, AudioMetric]) -> GenerationRun:
    from pytest_audiollm.benchmarks.sources import list_samples
    from pytest_audiollm.features.frontend import PRESETS

    settings = settings_of(spec)
    run = GenerationRun(spec=spec, system=system, bank=gen.bank, cache=gen.cache, metrics=metrics)
    preset = PRESETS[settings.preset]
    if settings.folder_mode:
        assert settings.reference is not None
        for sample in list_generated_files(settings.reference, spec.name):
            assert sample.audio is not None
            run.references[preset.pair_key(sample.meta["file"])] = Path(sample.audio.path)
        for sample in list_generated_files(settings.systems[system], ""):
            key = preset.pair_key(sample.meta["file"])
            run.generated_keys.append(key)
            run.prompts[key] = gen.prompt_text(spec, sample)
    else:
        for sample in list_samples(spec.data, spec.name):
            if sample.audio is not None and sample.error is None:
                run.references[sample.id] = Path(sample.audio.path)
            run.generated_keys.append(sample.id)
            run.prompts[sample.id] = spec.render_prompt(sample.prompt)
    return run
