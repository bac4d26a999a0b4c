"""The text kind's YAML keys (``synonyms``, ``text_normalizer``, ``caption_tokenizer``) and scoring context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_audiollm.benchmarks.spec import BenchmarkSpec, describe_value, one_of
from pytest_audiollm.errors import SpecError
from pytest_audiollm.metrics.normalize import NORMALIZERS
from pytest_audiollm.metrics.protocol import ScoringContext

__all__ = ["KEYS", "TextSettings", "context_of", "parse_text_settings", "scorer_versions", "scoring_record"]

TEXT_NORMALIZERS = NORMALIZERS  # none, basic (basic-1), basic-2, whisper_english
CAPTION_TOKENIZERS = ("ptb", "basic")
KEYS = ("synonyms", "text_normalizer", "caption_tokenizer")


@dataclass(frozen=True)
class TextSettings:
    """What text tasks read besides the common keys."""

    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text_normalizer: str = "basic"  # ASR text normaliser: none | basic (basic-1) | basic-2 | whisper_english
    caption_tokenizer: str = "ptb"  # captioning tokenizer: ptb (Stanford PTBTokenizer, Java) | basic


def parse_text_settings(raw: Mapping[str, Any], source: str) -> TextSettings:
    return TextSettings(
        synonyms=_synonyms(raw.get("synonyms"), source),
        text_normalizer=one_of(raw, "text_normalizer", TEXT_NORMALIZERS, "basic", source),
        caption_tokenizer=one_of(raw, "caption_tokenizer", CAPTION_TOKENIZERS, "ptb", source),
    )


def settings_of(spec: BenchmarkSpec) -> TextSettings:
    return spec.settings if isinstance(spec.settings, TextSettings) else TextSettings()


def context_of(spec: BenchmarkSpec) -> ScoringContext:
    settings = settings_of(spec)
    return ScoringContext(
        task=spec.task,
        choices=spec.choices,
        synonyms=settings.synonyms,
        text_normalizer=settings.text_normalizer,
        caption_tokenizer=settings.caption_tokenizer,
    )


def scoring_record(spec: BenchmarkSpec) -> dict[str, Any]:
    """What a later comparison needs to recompute the metrics (results ``runs[].scoring``)."""
    settings = settings_of(spec)
    return {
        "task": spec.task,
        "choices": list(spec.choices),
        "synonyms": {k: list(v) for k, v in settings.synonyms.items()},
        "text_normalizer": settings.text_normalizer,
        "caption_tokenizer": settings.caption_tokenizer,
    }


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


def scorer_versions(spec: BenchmarkSpec) -> dict[str, str]:
    """The versions of the text normaliser and caption tokenizer this spec scores with (results ``scorers``)."""
    from pytest_audiollm.metrics.normalize import normalizer_version
    from pytest_audiollm.metrics.tokenize import TOKENIZER_VERSIONS

    settings = settings_of(spec)
    return {
        "text_normalizer": normalizer_version(settings.text_normalizer),
        "caption_tokenizer": TOKENIZER_VERSIONS[settings.caption_tokenizer],
    }


def _synonyms(raw: Any, source: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            source, "synonyms", f"expected a mapping of label to a list of other names, got {describe_value(raw)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for label, names in raw.items():
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(source, f"synonyms.{label}", "expected a list of strings")
        out[str(label)] = tuple(names)
    return out
