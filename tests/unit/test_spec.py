"""Benchmark spec validation (``parse_spec`` on dicts) and memory sizes (``parse_size``)."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import pytest

from pytest_audiollm.benchmarks.spec import AudioSettings, BenchmarkSpec, load_spec, parse_spec
from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.conditions import Condition
from pytest_audiollm.errors import SpecError
from pytest_audiollm.units import parse_size

SOURCE = "benchmarks/test.yaml"
BASE = Path("/data/bench")


def minimal() -> dict[str, Any]:
    return {
        "name": "esc50-mini",
        "task": "classification",
        "data": {"format": "jsonl", "path": "manifest.jsonl"},
        "metrics": ["accuracy"],
    }


_, KINDS = builtin_registries()


def parse(raw: Any) -> BenchmarkSpec:
    return parse_spec(raw, source=SOURCE, base_dir=BASE, kinds=KINDS)


def error_of(raw: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(raw)
    assert info.value.source == SOURCE
    assert str(info.value).startswith(SOURCE)
    return info.value


def with_(**changes: Any) -> dict[str, Any]:
    raw = minimal()
    for key, value in changes.items():
        if value is _DROP:
            del raw[key]
        else:
            raw[key] = value
    return raw


_DROP = object()

# ---------------------------------------------------------------------------------------------------------------
# valid specs


def test_minimal_spec_and_defaults() -> None:
    spec = parse(minimal())
    assert spec.name == "esc50-mini"
    assert spec.task == "classification"
    assert spec.metrics == ("accuracy",)
    assert spec.version == "1"
    assert spec.description == ""
    assert spec.prompt == ""
    assert spec.choices == ()
    assert spec.settings.synonyms == {}
    assert spec.audio == AudioSettings(sample_rate=None, max_seconds=None)
    assert spec.thresholds == {}
    assert spec.sample_thresholds == {}
    assert spec.source == SOURCE
    assert spec.data.format == "jsonl"
    assert spec.data.path == "manifest.jsonl"
    assert spec.data.base_dir == BASE
    assert spec.data.source == SOURCE
    assert spec.data.fields == {}
    assert spec.data.audio_field == "audio"
    assert spec.data.reference_field == "reference"
    assert spec.render_prompt() == ""


def test_full_spec() -> None:
    raw = minimal() | {
        "version": 2,
        "description": "ESC-50, ten classes",
        "prompt": "Which sound is this? Answer with one of: {choices}.",
        "choices": ["dog", "rain", "sea waves"],
        "synonyms": {"dog": ["puppy", "hound"], "rain": "drizzle"},
        "audio": {"sample_rate": 16000, "max_seconds": 5},
        "metrics": ["accuracy", "macro_f1"],
        "thresholds": {"accuracy": ">= 0.6", "macro_f1": "ci_low >= 0.3"},
        "sample_thresholds": {"accuracy": "> 0"},
        "data": {"format": "csv", "path": "meta.csv", "fields": {"audio": "filename", "reference": "category"}},
    }
    spec = parse(raw)
    assert spec.version == "2"
    assert spec.description == "ESC-50, ten classes"
    assert spec.choices == ("dog", "rain", "sea waves")
    assert spec.settings.synonyms == {"dog": ("puppy", "hound"), "rain": ("drizzle",)}
    assert spec.audio == AudioSettings(sample_rate=16000, max_seconds=5.0)
    assert isinstance(spec.audio.max_seconds, float)
    assert spec.metrics == ("accuracy", "macro_f1")
    assert spec.thresholds == {
        "accuracy": Condition("value", ">=", 0.6),
        "macro_f1": Condition("ci_low", ">=", 0.3),
    }
    assert spec.sample_thresholds == {"accuracy": Condition("value", ">", 0.0)}
    assert spec.data.fields == {"audio": "filename", "reference": "category"}
    assert spec.data.audio_field == "filename"
    assert spec.data.reference_field == "category"
    assert spec.render_prompt() == "Which sound is this? Answer with one of: dog, rain, sea waves."


def test_single_strings_are_lists_and_numbers_are_strings() -> None:
    spec = parse(with_(metrics="wer", task="asr", name=123, choices=["a", 2]))
    assert spec.metrics == ("wer",)
    assert spec.name == "123"
    assert spec.choices == ("a", "2")


def test_parse_spec_does_not_modify_its_input() -> None:
    raw = minimal() | {"synonyms": {"dog": "puppy"}}
    before = copy.deepcopy(raw)
    parse(raw)
    assert raw == before


@pytest.mark.parametrize("task", ["captioning", "asr", "classification", "qa", "species"])
def test_every_task_is_accepted(task: str) -> None:
    assert parse(with_(task=task)).task == task


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "webdataset", "folder"])
def test_every_data_format_is_accepted(fmt: str) -> None:
    assert parse(with_(data={"format": fmt, "path": "x"})).data.format == fmt


# ---------------------------------------------------------------------------------------------------------------
# render_prompt


def prompt_spec(prompt: str) -> BenchmarkSpec:
    return parse(with_(prompt=prompt, choices=["dog", "cat"]))


def test_render_prompt_fills_choices() -> None:
    assert prompt_spec("Pick one of {choices}.").render_prompt() == "Pick one of dog, cat."


def test_render_prompt_fills_question_with_the_sample_prompt() -> None:
    spec = prompt_spec("Listen. {question} Options: {choices}.")
    assert spec.render_prompt("What animal is it?") == "Listen. What animal is it? Options: dog, cat."
    assert spec.render_prompt() == "Listen.  Options: dog, cat."


def test_a_sample_prompt_replaces_a_prompt_without_question() -> None:
    spec = prompt_spec("Pick one of {choices}.")
    assert spec.render_prompt("Is it a {choices}?") == "Is it a dog, cat?"
    assert spec.render_prompt("Which animal?") == "Which animal?"


def test_render_prompt_without_benchmark_prompt() -> None:
    spec = parse(minimal())
    assert spec.render_prompt("Transcribe.") == "Transcribe."
    assert spec.render_prompt("") == ""


# ---------------------------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("raw", [None, [], "name: x", 3])
def test_not_a_mapping(raw: Any) -> None:
    error = error_of(raw)
    assert error.key == ""
    assert "expected a mapping" in error.message


@pytest.mark.parametrize("key", ["name", "task", "data", "metrics"])
def test_missing_required_key(key: str) -> None:
    error = error_of(with_(**{key: _DROP}))
    assert error.key == key
    assert "is required" in error.message
    assert f"key '{key}'" in str(error)


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("metric", "metrics"), ("treshold", "thresholds"), ("choises", "choices"), ("descripton", "description")],
)
def test_unknown_top_key_with_did_you_mean(key: str, suggestion: str) -> None:
    error = error_of(minimal() | {key: 1})
    assert error.key == key
    assert "is not a known key" in error.message
    assert f"did you mean {suggestion!r}?" in error.message
    assert "allowed here: name, version, task" in error.message


def test_unknown_top_key_without_suggestion() -> None:
    error = error_of(minimal() | {"zzzzzz": 1})
    assert error.key == "zzzzzz"
    assert "did you mean" not in error.message


@pytest.mark.parametrize("name", ["has space", "-leading-dash", "a/b", "ünï"])
def test_bad_name(name: str) -> None:
    error = error_of(with_(name=name))
    assert error.key == "name"
    assert "letters, digits" in error.message


@pytest.mark.parametrize("name", ["", None, True, ["a"]])
def test_name_not_a_string(name: Any) -> None:
    error = error_of(with_(name=name))
    assert error.key == "name"
    assert "expected a non-empty string" in error.message


def test_bad_task_with_did_you_mean() -> None:
    error = error_of(with_(task="clasification"))
    assert error.key == "task"
    assert "unknown task 'clasification'" in error.message
    assert "did you mean 'classification'?" in error.message
    assert "captioning, asr, classification" in error.message


@pytest.mark.parametrize("metrics", [[], None, {"accuracy": 1}, [["accuracy"]]])
def test_bad_metrics(metrics: Any) -> None:
    error = error_of(with_(metrics=metrics))
    assert error.key == "metrics"


def test_empty_metrics_message() -> None:
    assert error_of(with_(metrics=[])).message == "must list at least one metric"


@pytest.mark.parametrize("choices", [None, {"a": 1}, [["a"]]])
def test_bad_choices(choices: Any) -> None:
    error = error_of(with_(choices=choices))
    assert error.key == "choices"
    assert "expected a list of strings" in error.message


@pytest.mark.parametrize(
    ("key", "value"), [("description", ""), ("description", ["x"]), ("prompt", ""), ("prompt", {"a": 1})]
)
def test_bad_optional_strings(key: str, value: Any) -> None:
    error = error_of(with_(**{key: value}))
    assert error.key == key
    assert "expected a non-empty string" in error.message


@pytest.mark.parametrize(
    ("audio", "key", "fragment"),
    [
        ("16000", "audio", "expected a mapping"),
        ([16000], "audio", "expected a mapping"),
        ({"samplerate": 16000}, "audio.samplerate", "did you mean 'sample_rate'?"),
        ({"sample_rate": 0}, "audio.sample_rate", "positive integer"),
        ({"sample_rate": -16000}, "audio.sample_rate", "positive integer"),
        ({"sample_rate": 16000.5}, "audio.sample_rate", "positive integer"),
        ({"sample_rate": "16000"}, "audio.sample_rate", "positive integer"),
        ({"sample_rate": True}, "audio.sample_rate", "positive integer"),
        ({"max_seconds": 0}, "audio.max_seconds", "positive number"),
        ({"max_seconds": -1.5}, "audio.max_seconds", "positive number"),
        ({"max_seconds": "30"}, "audio.max_seconds", "positive number"),
        ({"max_seconds": False}, "audio.max_seconds", "positive number"),
    ],
)
def test_bad_audio_block(audio: Any, key: str, fragment: str) -> None:
    error = error_of(with_(audio=audio))
    assert error.key == key
    assert fragment in error.message


def test_audio_block_may_be_empty_or_partial() -> None:
    assert parse(with_(audio=None)).audio == AudioSettings()
    assert parse(with_(audio={})).audio == AudioSettings()
    assert parse(with_(audio={"max_seconds": 2.5})).audio == AudioSettings(max_seconds=2.5)


@pytest.mark.parametrize("key", ["thresholds", "sample_thresholds"])
def test_threshold_on_unknown_metric(key: str) -> None:
    error = error_of(with_(metrics=["accuracy", "macro_f1"], **{key: {"acuracy": ">= 0.5"}}))
    assert error.key == f"{key}.acuracy"
    assert "not in this benchmark's metrics (accuracy, macro_f1)" in error.message
    assert "did you mean 'accuracy'?" in error.message


@pytest.mark.parametrize("key", ["thresholds", "sample_thresholds"])
@pytest.mark.parametrize("expr", ["0.5", "=> 0.5", "ci_mid >= 0.5", ">= 1e", ""])
def test_bad_threshold_syntax(key: str, expr: str) -> None:
    error = error_of(with_(**{key: {"accuracy": expr}}))
    assert error.key == f"{key}.accuracy"
    assert "cannot read" in error.message


@pytest.mark.parametrize("key", ["thresholds", "sample_thresholds"])
def test_thresholds_not_a_mapping(key: str) -> None:
    error = error_of(with_(**{key: [">= 0.5"]}))
    assert error.key == key
    assert "expected a mapping of metric to condition" in error.message


def test_numeric_threshold_is_a_syntax_error() -> None:
    # ``accuracy: 0.6`` (no operator) is refused rather than guessed
    assert error_of(with_(thresholds={"accuracy": 0.6})).key == "thresholds.accuracy"


@pytest.mark.parametrize(
    ("synonyms", "key"),
    [
        (["puppy"], "synonyms"),
        ("puppy", "synonyms"),
        ({"dog": 3}, "synonyms.dog"),
        ({"dog": ["puppy", 3]}, "synonyms.dog"),
        ({"dog": {"puppy": 1}}, "synonyms.dog"),
        ({"dog": None}, "synonyms.dog"),
    ],
)
def test_bad_synonyms(synonyms: Any, key: str) -> None:
    error = error_of(with_(synonyms=synonyms))
    assert error.key == key


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ("manifest.jsonl", "data", "expected a mapping with format, path and fields"),
        (None, "data", "got nothing"),
        ({"path": "x"}, "data.format", "is required"),
        ({"format": "jsonl"}, "data.path", "is required"),
        ({"format": "jsonl", "path": None}, "data.path", "is required"),  # ``path:`` left empty in YAML
        ({"format": "jsonl", "path": ""}, "data.path", "is required"),
        ({"format": None, "path": "x"}, "data.format", "is required"),
        ({"format": "parquet", "path": "x"}, "data.format", "unknown format 'parquet'"),
        ({"format": "jsonl", "path": "x", "feilds": {}}, "data.feilds", "did you mean 'fields'?"),
        ({"format": "jsonl", "path": "x", "fields": ["audio"]}, "data.fields", "expected a mapping"),
        ({"format": "jsonl", "path": "x", "fields": {"audo": "wav"}}, "data.fields.audo", "did you mean 'audio'?"),
        ({"format": "jsonl", "path": "x", "fields": {"label": "y"}}, "data.fields.label", "is not a known key"),
    ],
)
def test_bad_data_block(data: Any, key: str, fragment: str) -> None:
    error = error_of(with_(data=data))
    assert error.key == key
    assert fragment in error.message


def test_data_fields_may_be_empty() -> None:
    assert parse(with_(data={"format": "folder", "path": "x", "fields": None})).data.fields == {}


def test_error_message_names_file_and_key() -> None:
    error = error_of(with_(task="nope"))
    assert str(error).startswith(f"{SOURCE}: key 'task': unknown task 'nope'")


def test_load_spec_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(
        "name: tiny\ntask: asr\ndata: {format: jsonl, path: m.jsonl}\nmetrics: [wer]\nthresholds: {wer: '<= 0.3'}\n",
        encoding="utf-8",
    )
    spec = load_spec(path, KINDS)
    assert spec.source == str(path)
    assert spec.data.base_dir == tmp_path
    assert spec.thresholds == {"wer": Condition("value", "<=", 0.3)}


def test_load_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the benchmark file"):
        load_spec(tmp_path / "missing.yaml", KINDS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="is not valid YAML"):
        load_spec(bad, KINDS)


# ---------------------------------------------------------------------------------------------------------------
# parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("24GiB", 24 * 1024**3),
        ("2G", 2 * 1024**3),
        ("2g", 2 * 1024**3),
        ("2GB", 2 * 1000**3),
        ("512MiB", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("512MB", 512 * 1000**2),
        ("4KiB", 4096),
        ("4K", 4096),
        ("4kb", 4000),
        ("1TiB", 1024**4),
        ("1T", 1024**4),
        ("1TB", 1000**4),
        ("1073741824", 1073741824),
        ("100B", 100),
        ("0", 0),
        ("1.5GiB", int(1.5 * 1024**3)),
        (".5G", 512 * 1024**2),
        ("  24 GiB  ", 24 * 1024**3),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "abc", "-1G", "2XB", "2 Gi", "2iB", "2GiBs", "1,5G", "1.G", "2 G B"])
def test_parse_size_bad_input(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="cannot read memory size") as info:
        parse_size(text)
    assert repr(text) in str(info.value)
    assert "24GiB" in str(info.value)


def test_error_messages_never_repr_a_huge_value() -> None:
    nested: list[object] = ["x"]
    for _ in range(30):
        nested = [nested] * 10  # 10^30 leaves if printed in full
    error = error_of(with_(metrics=nested))
    assert len(str(error)) < 400
