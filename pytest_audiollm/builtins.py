"""What pytest-audiollm registers itself: the demo model and the named adapters, the demo suite, the metrics
(text and generation), and the task kinds (text, generation)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.registry import BenchmarkRegistry
    from pytest_audiollm.metrics.protocol import AnyMetric
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.models.protocol import AudioModel, ModelOptions
    from pytest_audiollm.models.registry import ModelFactory, ModelRegistry
    from pytest_audiollm.tasks.registry import TaskKindRegistry

DEMO_DIR = Path(__file__).parent / "benchmarks" / "demo"
DEMO_SPECS = ("bench_demo_classification.yaml", "bench_demo_captioning.yaml", "bench_demo_asr.yaml")


def _demo(options: ModelOptions) -> AudioModel:
    """DSP demo model: classifies synthetic sounds, captions them, decodes DTMF key presses (numpy only)."""
    from pytest_audiollm.models.adapters.demo import demo_factory

    return demo_factory(options)


def _hf(options: ModelOptions) -> AudioModel:
    """Any transformers audio LLM (AutoProcessor + AutoModelForMultimodalLM): hf:PATH_OR_REPO."""
    from pytest_audiollm.models.adapters.hf import hf_factory

    return hf_factory(options)


def _openai(options: ModelOptions) -> AudioModel:
    """Any OpenAI-compatible chat-completions server (vLLM, SGLang, hosted APIs): openai:MODEL@BASE_URL."""
    from pytest_audiollm.models.adapters.openai_compatible import openai_factory

    return openai_factory(options)


# Named adapters: (name, module, factory function, one-line description for --audiollm-list). Each module is
# imported only when its model is used; transformers-native families share pytest_audiollm.models.adapters.native
# (their factories are in family_adapters).
NAMED_ADAPTERS: tuple[tuple[str, str, str, str], ...] = (
    ("qwen2-audio", "family_adapters", "qwen2_audio_factory", "Qwen/Qwen2-Audio-7B-Instruct (transformers-native)"),
    ("audio-flamingo-3", "family_adapters", "audio_flamingo_3_factory", "nvidia/audio-flamingo-3-hf: Audio Flamingo 3"),
    ("qwen2.5-omni", "family_adapters", "qwen2_5_omni_factory", "Qwen/Qwen2.5-Omni-7B, thinker only (text output)"),
    ("voxtral", "family_adapters", "voxtral_factory", "mistralai/Voxtral-Mini-3B-2507 (transformers-native)"),
    (
        "phi-4-multimodal",
        "family_adapters",
        "phi4_multimodal_factory",
        "microsoft/Phi-4-multimodal-instruct + speech LoRA",
    ),
    (
        "granite-speech",
        "family_adapters",
        "granite_speech_factory",
        "ibm-granite/granite-speech-3.3-8b (transformers-native)",
    ),
    ("whisper", "whisper", "whisper_factory", "openai/whisper-large-v3 as an ASR baseline (transformers)"),
    ("clap", "clap", "clap_factory", "laion/clap-htsat-unfused: zero-shot classifier over the choices"),
    ("naturelm", "naturelm", "naturelm_factory", "EarthSpeciesProject/NatureLM-audio through its NatureLM package"),
    ("salmonn", "salmonn", "salmonn_factory", "ByteDance SALMONN through its repository (repo=PATH)"),
)


def _named(module: str, function: str, description: str) -> ModelFactory:
    def factory(options: ModelOptions) -> AudioModel:
        import importlib

        made: AudioModel = getattr(importlib.import_module(f"pytest_audiollm.models.adapters.{module}"), function)(
            options
        )
        return made

    factory.__doc__ = description
    return factory


@pytest.hookimpl(tryfirst=True)
def pytest_audiollm_register_models(registry: ModelRegistry) -> None:
    registry.add("demo", _demo)
    registry.add_prefix("hf", _hf)
    registry.add_prefix("openai", _openai)
    for name, module, function, description in NAMED_ADAPTERS:
        registry.add(name, _named(module, function, description), description)


@pytest.hookimpl(tryfirst=True)
def pytest_audiollm_register_benchmarks(registry: BenchmarkRegistry) -> None:
    registry.add(
        "demo",
        [DEMO_DIR / name for name in DEMO_SPECS],
        "bundled demo suite: classification, captioning and ASR-style tasks on generated audio",
    )
    for name in DEMO_SPECS:
        short = name.removeprefix("bench_").removesuffix(".yaml").replace("_", "-")
        registry.add(short, DEMO_DIR / name, f"bundled demo benchmark ({short.removeprefix('demo-')})")


@pytest.hookimpl(tryfirst=True)
def pytest_audiollm_register_metrics(registry: MetricRegistry) -> None:
    """The built-in metrics (each module imports its heavy libraries only when the metric computes)."""
    from pytest_audiollm.metrics.asr import (
        CharacterErrorRate,
        MacroCharacterErrorRate,
        MacroWordErrorRate,
        WordErrorRate,
    )
    from pytest_audiollm.metrics.bleu import Bleu
    from pytest_audiollm.metrics.cider import CiderD
    from pytest_audiollm.metrics.classification import Accuracy, MacroF1
    from pytest_audiollm.metrics.mcq import McqAccuracy
    from pytest_audiollm.metrics.meteor import Meteor
    from pytest_audiollm.metrics.multilabel import MeanAveragePrecision
    from pytest_audiollm.metrics.rouge import RougeL
    from pytest_audiollm.metrics.sbert import RETIRED_SBERT_SIM, SentenceSimilarity
    from pytest_audiollm.metrics.species import SpeciesAccuracy
    from pytest_audiollm.metrics.spice import Spice, Spider

    metrics: list[AnyMetric] = [
        Accuracy(), MacroF1(), MeanAveragePrecision(), McqAccuracy(), SpeciesAccuracy(),
        WordErrorRate(), CharacterErrorRate(), MacroWordErrorRate(), MacroCharacterErrorRate(),
        *(Bleu(n) for n in range(1, 5)), Meteor(), RougeL(), CiderD(), Spice(), Spider(), SentenceSimilarity(),
    ]  # fmt: skip
    from pytest_audiollm.metrics.generation.catalog import BUILTIN_GENERATION_METRICS

    metrics += [cls() for cls in BUILTIN_GENERATION_METRICS]
    for metric in metrics:
        registry.add(metric.name, metric)
    registry.retire("sbert_sim", RETIRED_SBERT_SIM)  # renamed for its model (metrics/sbert.py says why)


@pytest.hookimpl(tryfirst=True)
def pytest_audiollm_register_task_kinds(registry: TaskKindRegistry) -> None:
    """The text kind (captioning, asr, classification, qa, species) and the generation kind."""
    from pytest_audiollm.tasks.generation import GenerationKind
    from pytest_audiollm.tasks.text import TextKind

    registry.add("text", TextKind())
    registry.add("generation", GenerationKind())


def builtin_registries() -> tuple[MetricRegistry, TaskKindRegistry]:
    """The built-in metrics and task kinds, as a session has them without plugins (for ``parse_spec`` and
    comparisons outside pytest, e.g. ``python -m pytest_audiollm compare``)."""
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.tasks.registry import TaskKindRegistry

    metrics, kinds = MetricRegistry(), TaskKindRegistry()
    pytest_audiollm_register_metrics(metrics)
    pytest_audiollm_register_task_kinds(kinds)
    return metrics, kinds
