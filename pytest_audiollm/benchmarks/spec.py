"""BenchmarkSpec: a validated benchmark YAML. Every error names the file, the key and what was expected.

The common keys are read here; the keys of one kind of evaluation (``synonyms`` of text tasks, the
``generation:`` block, ...) are read by that task kind, which the caller passes in (``KindParsers``: the task-kind
registry). So this module knows no task by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_audiollm.benchmarks.data_spec import DATA_FORMATS, DataSpec
from pytest_audiollm.conditions import Condition, ThresholdSyntaxError, parse_condition
from pytest_audiollm.errors import SpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
COMMON_KEYS = (
    "name",
    "version",
    "task",
    "description",
    "data",
    "prompt",
    "choices",
    "audio",
    "metrics",
    "thresholds",
    "sample_thresholds",
    "max_regression",
    "regression_level",
)
REQUIRED_KEYS = ("name", "task", "data", "metrics")
DATA_KEYS = ("format", "path", "fields", "allow_outside")
FIELD_KEYS = ("audio", "reference", "id", "prompt")
AUDIO_KEYS = ("sample_rate", "max_seconds")


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int | None = None  # None: the model's own rate
    max_seconds: float | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark: its data, prompt, metrics and thresholds, and its task kind's own settings."""

    name: str
    task: str
    data: DataSpec
    metrics: tuple[str, ...]
    version: str = "1"
    description: str = ""
    prompt: str = ""
    choices: tuple[str, ...] = ()
    audio: AudioSettings = AudioSettings()
    thresholds: dict[str, Condition] = field(default_factory=dict)
    sample_thresholds: dict[str, Condition] = field(default_factory=dict)
    # with --audiollm-baseline: the largest tolerated worsening per metric (None: not gated), and the test level
    max_regression: dict[str, float | None] = field(default_factory=dict)
    regression_level: float = 0.05
    source: str = ""
    kind: str = ""  # the task kind that runs it ("text", "generation", ...); set by the kind's parser
    settings: Any = None  # the task kind's own settings (TextSettings, GenerationSettings, ...)

    def render_prompt(self, sample_prompt: str = "") -> str:
        """The prompt for one sample: ``{choices}`` and ``{question}`` filled in.

        A sample's own prompt replaces the benchmark prompt unless the benchmark prompt has ``{question}``.
        """
        template = self.prompt
        if sample_prompt and "{question}" not in template:
            template = sample_prompt
        return template.replace("{choices}", ", ".join(self.choices)).replace("{question}", sample_prompt)


@dataclass(frozen=True)
class KindBlock:
    """What a task kind read from a spec: its settings, and the data when it reads ``data:`` its own way."""

    settings: Any
    data: DataSpec | None = None


class KindParser(Protocol):
    """The part of a task kind that reads YAML (see :class:`pytest_audiollm.tasks.base.TaskKind`)."""

    @property
    def name(self) -> str: ...

    @property
    def keys(self) -> tuple[str, ...]: ...

    def parse(self, raw: Mapping[str, Any], spec: BenchmarkSpec, base_dir: Path) -> KindBlock: ...


class KindParsers(Protocol):
    """Which task kind reads a task (the task-kind registry)."""

    def for_task(self, task: str) -> KindParser | None: ...

    def task_names(self) -> tuple[str, ...]: ...

    def parsers(self) -> Sequence[KindParser]: ...


def load_spec(path: Path, kinds: KindParsers) -> BenchmarkSpec:
    """Read and validate a benchmark YAML file."""
    import yaml

    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(source, "", f"cannot read the benchmark file ({exc.strerror})") from exc
    try:
        raw = safe_yaml(text, source)
    except yaml.YAMLError as exc:
        raise SpecError(source, "", f"is not valid YAML: {exc}") from exc
    return parse_spec(raw, source=source, base_dir=path.parent, kinds=kinds)


MAX_YAML_ALIASES = 100  # a benchmark file needs a handful; a "billion laughs" document needs thousands


def safe_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses documents with more than MAX_YAML_ALIASES aliases (``*name``): nested
    aliases multiply (10 levels of 10 make a billion items to walk), and a spec never needs many."""
    import yaml

    class _Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise SpecError(
                        source, "", f"uses more than {MAX_YAML_ALIASES} YAML aliases (*name): refused, since nested "
                        "aliases multiply into an enormous document; write the values out"
                    )  # fmt: skip
            return super().compose_node(parent, index)

    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_spec(raw: Any, *, source: str, base_dir: Path, kinds: KindParsers) -> BenchmarkSpec:
    """Validate a mapping (parsed YAML or a dict from a plugin) into a BenchmarkSpec."""
    if not isinstance(raw, Mapping):
        raise SpecError(
            source, "", f"expected a mapping of keys ({', '.join(REQUIRED_KEYS)}, ...), got {describe_value(raw)}"
        )
    task = string_value(raw, "task", source) if "task" in raw else ""
    parser = kinds.for_task(task) if task else None
    _check_top_keys(raw, parser, kinds, source)
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise SpecError(source, key, f"is required ({_hint(key, kinds)})")
    name = string_value(raw, "name", source)
    if not _NAME.match(name):
        raise SpecError(source, "name", f"{name!r} must use letters, digits, '_', '.', '-' only")
    if parser is None:
        tasks = kinds.task_names()
        raise SpecError(
            source, "task", f"unknown task {task!r}: expected one of {', '.join(tasks)}{close_match(task, tasks)}"
        )
    metrics = tuple(string_list(raw, "metrics", source))
    if not metrics:
        raise SpecError(source, "metrics", "must list at least one metric")
    choices = tuple(_choices(raw, source)) if "choices" in raw else ()
    spec = BenchmarkSpec(
        name=name,
        task=task,
        data=DataSpec(format="", path="", base_dir=base_dir, source=source),
        metrics=metrics,
        version=str(raw.get("version", "1")),
        description=string_value(raw, "description", source) if "description" in raw else "",
        prompt=string_value(raw, "prompt", source) if "prompt" in raw else "",
        choices=choices,
        audio=_audio(raw.get("audio"), source),
        thresholds=_conditions(raw.get("thresholds"), metrics, source, "thresholds"),
        sample_thresholds=_conditions(raw.get("sample_thresholds"), metrics, source, "sample_thresholds"),
        max_regression=_max_regression(raw.get("max_regression"), metrics, source),
        regression_level=_level(raw.get("regression_level", 0.05), source),
        source=source,
        kind=parser.name,
    )
    block = parser.parse(raw, spec, base_dir)
    data = block.data if block.data is not None else parse_data(raw["data"], source, base_dir)
    return dataclasses.replace(spec, data=data, settings=block.settings)


def _check_top_keys(raw: Mapping[Any, Any], parser: KindParser | None, kinds: KindParsers, source: str) -> None:
    """Unknown keys are errors; a key of another task kind says which tasks read it."""
    allowed = (*COMMON_KEYS, *(parser.keys if parser is not None else ()))
    for key in raw:
        if str(key) in allowed:
            continue
        owners = [p for p in kinds.parsers() if str(key) in p.keys]
        if owners and parser is not None:
            readers = ", ".join(t for t in kinds.task_names() if kinds.for_task(t) in owners)
            raise SpecError(source, str(key), f"is only read by benchmarks of task {readers}")
        if owners:
            continue  # the task is unknown: that error comes next
        every = (*COMMON_KEYS, *(k for p in kinds.parsers() for k in p.keys))
        raise SpecError(
            source, str(key), f"is not a known key{close_match(str(key), every)}; allowed here: {', '.join(allowed)}"
        )


def _choices(raw: Mapping[str, Any], source: str) -> list[str]:
    value = raw["choices"]
    if isinstance(value, str) and "," in value:  # "tone, noise" would silently be one label
        labels = ", ".join(part.strip() for part in value.split(","))
        raise SpecError(source, "choices", f"{value!r} is one string; write the labels as a YAML list: [{labels}]")
    return string_list(raw, "choices", source)


def parse_data(raw: Any, source: str, base_dir: Path) -> DataSpec:
    """The common ``data:`` block: format, path and field names."""
    if not isinstance(raw, Mapping):
        raise SpecError(source, "data", f"expected a mapping with format, path and fields, got {describe_value(raw)}")
    check_keys(raw, DATA_KEYS, source, "data.")
    for key in ("format", "path"):
        if raw.get(key) is None or raw.get(key) == "":
            raise SpecError(source, f"data.{key}", f"is required ({_hint('data.' + key, None)})")
    fmt = str(raw["format"])
    if fmt not in DATA_FORMATS:
        raise SpecError(source, "data.format", f"unknown format {fmt!r}: expected one of {', '.join(DATA_FORMATS)}")
    fields = raw.get("fields", {}) or {}
    if not isinstance(fields, Mapping):
        raise SpecError(
            source,
            "data.fields",
            f"expected a mapping such as {{audio: audio, reference: label}}, got {describe_value(fields)}",
        )
    check_keys(fields, FIELD_KEYS, source, "data.fields.")
    for key, value in fields.items():
        if not isinstance(value, str) or not value:
            raise SpecError(
                source, f"data.fields.{key}", f"expected the name of a manifest field, got {describe_value(value)}"
            )
    allow_outside = raw.get("allow_outside", False)
    if not isinstance(allow_outside, bool):
        raise SpecError(source, "data.allow_outside", f"expected true or false, got {describe_value(allow_outside)}")
    names = {str(k): str(v) for k, v in fields.items()}
    return DataSpec(fmt, str(raw["path"]), base_dir, source, names, allow_outside=allow_outside)


def _audio(raw: Any, source: str) -> AudioSettings:
    if raw is None:
        return AudioSettings()
    if not isinstance(raw, Mapping):
        raise SpecError(
            source,
            "audio",
            f"expected a mapping such as {{sample_rate: 16000, max_seconds: 30}}, got {describe_value(raw)}",
        )
    check_keys(raw, AUDIO_KEYS, source, "audio.")
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
            source,
            key,
            f"expected a mapping of metric to condition such as {{accuracy: '>= 0.6'}}, got {describe_value(raw)}",
        )
    out: dict[str, Condition] = {}
    for metric, expr in raw.items():
        metric = str(metric)
        if metric not in metrics:
            raise SpecError(
                source,
                f"{key}.{metric}",
                f"sets a threshold on {metric!r}, which is not in this benchmark's metrics "
                f"({', '.join(metrics)}){close_match(metric, metrics)}; add it to 'metrics' or fix the name",
            )
        try:
            out[metric] = parse_condition(str(expr))
        except ThresholdSyntaxError as exc:
            raise SpecError(source, f"{key}.{metric}", str(exc)) from exc
    return out


def _max_regression(raw: Any, metrics: Sequence[str], source: str) -> dict[str, float | None]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            source, "max_regression", f"expected a mapping of metric to tolerance or off, got {describe_value(raw)}"
        )
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
            raise SpecError(
                source, f"max_regression.{metric}", f"expected a tolerance >= 0 or off, got {describe_value(value)}"
            )
    return out


def _level(value: Any, source: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise SpecError(
        source, "regression_level", f"expected a significance level between 0 and 1, got {describe_value(value)}"
    )


def one_of(raw: Mapping[str, Any], key: str, options: Sequence[str], default: str, source: str) -> str:
    value = str(raw.get(key, default))
    if value not in options:
        raise SpecError(
            source, key, f"unknown value {value!r}: expected one of {', '.join(options)}{close_match(value, options)}"
        )
    return value


def check_keys(raw: Mapping[Any, Any], allowed: Sequence[str], source: str, prefix: str) -> None:
    for key in raw:
        if str(key) not in allowed:
            raise SpecError(
                source,
                f"{prefix}{key}",
                f"is not a known key{close_match(str(key), allowed)}; allowed here: {', '.join(allowed)}",
            )


def string_value(raw: Mapping[str, Any], key: str, source: str) -> str:
    value = raw[key]
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        raise SpecError(source, key, f"expected a non-empty string, got {describe_value(value)}")
    return str(value)


def string_list(raw: Mapping[str, Any], key: str, source: str) -> list[str]:
    value = raw[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise SpecError(source, key, f"expected a list of strings, got {describe_value(value)}")
    return [str(v) for v in value]


def close_match(word: str, options: Sequence[str]) -> str:
    match = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def describe_value(value: Any) -> str:
    """A short description of a value for an error message (bounded: never the repr of a huge structure)."""
    import reprlib

    if value is None:
        return "nothing"
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 60, 60
    return f"{type(value).__name__} {short.repr(value)}"[:80]


def _hint(key: str, kinds: KindParsers | None) -> str:
    return {
        "name": "a short benchmark name such as esc50-mini",
        "task": f"one of {', '.join(kinds.task_names())}" if kinds is not None else "a task name",
        "data": "a mapping with format, path and fields",
        "metrics": "a list such as [accuracy, macro_f1]",
        "data.format": f"one of {', '.join(DATA_FORMATS)}",
        "data.path": "the manifest, folder or shard pattern, relative to this file",
    }.get(key, "see docs/reference/benchmark-yaml.md")
