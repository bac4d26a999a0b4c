"""BenchmarkSpec: a validated benchmark YAML. Every error names the file, the key and what was expected."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.benchmarks.data_spec import DATA_FORMATS, DataSpec
from pytest_audiollm.errors import SpecError
from pytest_audiollm.gates import Condition, ThresholdSyntaxError, parse_condition

TASKS = ("captioning", "asr", "classification", "qa", "species", "generation")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = (
    "name",
    "version",
    "task",
    "description",
    "data",
    "prompt",
    "choices",
    "synonyms",
    "audio",
    "metrics",
    "thresholds",
    "sample_thresholds",
    "text_normalizer",
    "caption_tokenizer",
    "max_regression",
    "regression_level",
    "generation",
)
TEXT_NORMALIZERS = ("none", "basic", "whisper_english")
CAPTION_TOKENIZERS = ("ptb", "basic")
if TYPE_CHECKING:
    from pytest_audiollm.generation.task import GenerationSettings

_REQUIRED = ("name", "task", "data", "metrics")
_DATA_KEYS = ("format", "path", "fields")
_FIELD_KEYS = ("audio", "reference", "id", "prompt")
_AUDIO_KEYS = ("sample_rate", "max_seconds")


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int | None = None  # None: the model's own rate
    max_seconds: float | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark: its data, prompt, metrics and thresholds."""

    name: str
    task: str
    data: DataSpec
    metrics: tuple[str, ...]
    version: str = "1"
    description: str = ""
    prompt: str = ""
    choices: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    audio: AudioSettings = AudioSettings()
    thresholds: dict[str, Condition] = field(default_factory=dict)
    sample_thresholds: dict[str, Condition] = field(default_factory=dict)
    text_normalizer: str = "basic"
    caption_tokenizer: str = "ptb"
    # with --audiollm-baseline: the largest tolerated worsening per metric (None: not gated), and the test level
    max_regression: dict[str, float | None] = field(default_factory=dict)
    regression_level: float = 0.05
    source: str = ""
    generation: GenerationSettings | None = None  # task generation: folders, preset, metric settings

    def render_prompt(self, sample_prompt: str = "") -> str:
        """The prompt for one sample: ``{choices}`` and ``{question}`` filled in.

        A sample's own prompt replaces the benchmark prompt unless the benchmark prompt has ``{question}``.
        """
        template = self.prompt
        if sample_prompt and "{question}" not in template:
            template = sample_prompt
        return template.replace("{choices}", ", ".join(self.choices)).replace("{question}", sample_prompt)


def load_spec(path: Path) -> BenchmarkSpec:
    """Read and validate a benchmark YAML file."""
    import yaml

    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(source, "", f"cannot read the benchmark file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(source, "", f"is not valid YAML: {exc}") from exc
    return parse_spec(raw, source=source, base_dir=path.parent)


def parse_spec(raw: Any, *, source: str, base_dir: Path) -> BenchmarkSpec:
    """Validate a mapping (parsed YAML or a dict from a plugin) into a BenchmarkSpec."""
    if not isinstance(raw, Mapping):
        raise SpecError(source, "", f"expected a mapping of keys ({', '.join(_REQUIRED)}, ...), got {_kind(raw)}")
    _check_keys(raw, _TOP_KEYS, source, "")
    for key in _REQUIRED:
        if key not in raw:
            raise SpecError(source, key, f"is required ({_hint(key)})")
    name = _string(raw, "name", source)
    if not _NAME.match(name):
        raise SpecError(source, "name", f"{name!r} must use letters, digits, '_', '.', '-' only")
    task = _string(raw, "task", source)
    if task not in TASKS:
        raise SpecError(
            source, "task", f"unknown task {task!r}: expected one of {', '.join(TASKS)}{_close(task, TASKS)}"
        )
    metrics = tuple(_string_list(raw, "metrics", source))
    if not metrics:
        raise SpecError(source, "metrics", "must list at least one metric")
    choices = tuple(_string_list(raw, "choices", source)) if "choices" in raw else ()
    generation = None
    if task == "generation":
        from pytest_audiollm.generation.task import parse_generation, parse_generation_data

        folders = parse_generation_data(raw["data"], source, base_dir) if isinstance(raw["data"], Mapping) else {}
        generation = parse_generation(raw.get("generation"), folders, metrics, source)
        if folders:
            data = next(iter(generation.systems.values()))
        else:
            data = dataclasses.replace(_data(raw["data"], source, base_dir), needs_reference=False)
    elif "generation" in raw:
        raise SpecError(source, "generation", "is only read by benchmarks of task generation")
    else:
        data = _data(raw["data"], source, base_dir)
    return BenchmarkSpec(
        name=name,
        task=task,
        data=data,
        metrics=metrics,
        version=str(raw.get("version", "1")),
        description=_string(raw, "description", source) if "description" in raw else "",
        prompt=_string(raw, "prompt", source) if "prompt" in raw else "",
        choices=choices,
        synonyms=_synonyms(raw.get("synonyms"), source),
        audio=_audio(raw.get("audio"), source),
        thresholds=_conditions(raw.get("thresholds"), metrics, source, "thresholds"),
        sample_thresholds=_conditions(raw.get("sample_thresholds"), metrics, source, "sample_thresholds"),
        text_normalizer=_one_of(raw, "text_normalizer", TEXT_NORMALIZERS, "basic", source),
        caption_tokenizer=_one_of(raw, "caption_tokenizer", CAPTION_TOKENIZERS, "ptb", source),
        max_regression=_max_regression(raw.get("max_regression"), metrics, source),
        regression_level=_level(raw.get("regression_level", 0.05), source),
        source=source,
        generation=generation,
    )


def _data(raw: Any, source: str, base_dir: Path) -> DataSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(source, "data", f"expected a mapping with format, path and fields, got {_kind(raw)}")
    _check_keys(raw, _DATA_KEYS, source, "data.")
    for key in ("format", "path"):
        if raw.get(key) is None or raw.get(key) == "":
            raise SpecError(source, f"data.{key}", f"is required ({_hint('data.' + key)})")
    fmt = str(raw["format"])
    if fmt not in DATA_FORMATS:
        raise SpecError(source, "data.format", f"unknown format {fmt!r}: expected one of {', '.join(DATA_FORMATS)}")
    fields = raw.get("fields", {}) or {}
    if not isinstance(fields, Mapping):
        raise SpecError(
            source, "data.fields", f"expected a mapping such as {{audio: audio, reference: label}}, got {_kind(fields)}"
        )
    _check_keys(fields, _FIELD_KEYS, source, "data.fields.")
    for key, value in fields.items():
        if not isinstance(value, str) or not value:
            raise SpecError(source, f"data.fields.{key}", f"expected the name of a manifest field, got {_kind(value)}")
    return DataSpec(
        format=fmt,
        path=str(raw["path"]),
        base_dir=base_dir,
        source=source,
        fields={str(k): str(v) for k, v in fields.items()},
    )


def _audio(raw: Any, source: str) -> AudioSettings:
    if raw is None:
        return AudioSettings()
    if not isinstance(raw, Mapping):
        raise SpecError(
            source, "audio", f"expected a mapping such as {{sample_rate: 16000, max_seconds: 30}}, got {_kind(raw)}"
        )
    _check_keys(raw, _AUDIO_KEYS, source, "audio.")
    rate = raw.get("sample_rate")
    seconds = raw.get("max_seconds")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0):
        raise SpecError(source, "audio.sample_rate", f"expected a positive integer in Hz, got {rate!r}")
    if seconds is not None and (not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0):
        raise SpecError(source, "audio.max_seconds", f"expected a positive number of seconds, got {seconds!r}")
    return AudioSettings(sample_rate=rate, max_seconds=float(seconds) if seconds is not None else None)


def _conditions(raw: Any, metrics: Sequence[str], source: str, key: str) -> dict[str, Condition]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            source, key, f"expected a mapping of metric to condition such as {{accuracy: '>= 0.6'}}, got {_kind(raw)}"
        )
    out: dict[str, Condition] = {}
    for metric, expr in raw.items():
        metric = str(metric)
        if metric not in metrics:
            raise SpecError(
                source,
                f"{key}.{metric}",
                f"sets a threshold on {metric!r}, which is not in this benchmark's metrics "
                f"({', '.join(metrics)}){_close(metric, metrics)}; add it to 'metrics' or fix the name",
            )
        try:
            out[metric] = parse_condition(str(expr))
        except ThresholdSyntaxError as exc:
            raise SpecError(source, f"{key}.{metric}", str(exc)) from exc
    return out


def _synonyms(raw: Any, source: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(source, "synonyms", f"expected a mapping of label to a list of other names, got {_kind(raw)}")
    out: dict[str, tuple[str, ...]] = {}
    for label, names in raw.items():
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(source, f"synonyms.{label}", "expected a list of strings")
        out[str(label)] = tuple(names)
    return out


def _max_regression(raw: Any, metrics: Sequence[str], source: str) -> dict[str, float | None]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(source, "max_regression", f"expected a mapping of metric to tolerance or off, got {_kind(raw)}")
    out: dict[str, float | None] = {}
    for metric, value in raw.items():
        metric = str(metric)
        if metric not in metrics:
            raise SpecError(source, f"max_regression.{metric}", f"{metric!r} is not in this benchmark's metrics")
        if value is False or str(value).lower() == "off":
            out[metric] = None
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            out[metric] = float(value)
        else:
            raise SpecError(source, f"max_regression.{metric}", f"expected a tolerance >= 0 or off, got {_kind(value)}")
    return out


def _level(value: Any, source: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise SpecError(source, "regression_level", f"expected a significance level between 0 and 1, got {_kind(value)}")


def _one_of(raw: Mapping[str, Any], key: str, options: Sequence[str], default: str, source: str) -> str:
    value = str(raw.get(key, default))
    if value not in options:
        raise SpecError(
            source, key, f"unknown value {value!r}: expected one of {', '.join(options)}{_close(value, options)}"
        )
    return value


def _check_keys(raw: Mapping[Any, Any], allowed: Sequence[str], source: str, prefix: str) -> None:
    for key in raw:
        if str(key) not in allowed:
            raise SpecError(
                source,
                f"{prefix}{key}",
                f"is not a known key{_close(str(key), allowed)}; allowed here: {', '.join(allowed)}",
            )


def _string(raw: Mapping[str, Any], key: str, source: str) -> str:
    value = raw[key]
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        raise SpecError(source, key, f"expected a non-empty string, got {_kind(value)}")
    return str(value)


def _string_list(raw: Mapping[str, Any], key: str, source: str) -> list[str]:
    value = raw[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise SpecError(source, key, f"expected a list of strings, got {_kind(value)}")
    return [str(v) for v in value]


def _close(word: str, options: Sequence[str]) -> str:
    match = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _hint(key: str) -> str:
    return {
        "name": "a short benchmark name such as esc50-mini",
        "task": f"one of {', '.join(TASKS)}",
        "data": "a mapping with format, path and fields",
        "metrics": "a list such as [accuracy, macro_f1]",
        "data.format": f"one of {', '.join(DATA_FORMATS)}",
        "data.path": "the manifest, folder or shard pattern, relative to this file",
    }.get(key, "see the README's YAML schema")
