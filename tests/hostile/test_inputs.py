"""Hostile input that used to slip through (issue 11, partial holds): each case now fails where it should, with
the reason, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_helpers import SineDataset, load_results, run_by_benchmark

from pytest_audiollm.benchmarks.data_spec import DataSpec
from pytest_audiollm.benchmarks.sources import list_samples
from pytest_audiollm.benchmarks.spec import load_spec
from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.errors import SpecError

_, KINDS = builtin_registries()
BASE = {"name": "b", "task": "classification", "data": {"format": "jsonl", "path": "m.jsonl"}, "metrics": ["accuracy"]}


def test_choices_written_as_one_string_are_refused() -> None:
    from pytest_audiollm.benchmarks.spec import parse_spec

    with pytest.raises(SpecError, match=r"key 'choices': 'tone, noise' is one string; .*\[tone, noise\]"):
        parse_spec({**BASE, "choices": "tone, noise"}, source="b.yaml", base_dir=Path("."), kinds=KINDS)
    one = parse_spec({**BASE, "choices": "tone"}, source="b.yaml", base_dir=Path("."), kinds=KINDS)
    assert one.choices == ("tone",)  # a single label is still fine


def test_a_byte_order_mark_does_not_break_the_first_jsonl_line(tmp_path: Path) -> None:
    rows = [{"id": "a", "audio": "a.wav", "reference": "x"}, {"id": "b", "audio": "b.wav", "reference": "y"}]
    (tmp_path / "m.jsonl").write_bytes(b"\xef\xbb\xbf" + "\n".join(json.dumps(r) for r in rows).encode() + b"\n")
    samples = list_samples(DataSpec("jsonl", "m.jsonl", tmp_path), "b")
    assert [s.id for s in samples] == ["a", "b"] and all(s.error is None for s in samples)


def test_a_csv_row_that_is_not_utf8_fails_alone_with_its_line(tmp_path: Path) -> None:
    text = b"id,audio,reference\na,a.wav,dog\nb,b.wav,caf\xe9\nc,c.wav,cat\n"
    (tmp_path / "m.csv").write_bytes(text)
    samples = list_samples(DataSpec("csv", "m.csv", tmp_path), "b")
    assert [s.error for s in samples][::2] == [None, None]
    assert samples[1].error is not None and "line 3 holds bytes that are not UTF-8" in samples[1].error


def test_max_seconds_too_small_for_one_sample_fails_the_sample_not_the_model(sines: SineDataset) -> None:
    yaml_text = (sines.root / "bench_tones.yaml").read_text().replace("max_seconds: 10", "max_seconds: 0.00001")
    sines.write(yaml_text=yaml_text)
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    run = run_by_benchmark(load_results(sines.root / "r.json"), "tones")
    assert result.ret == 1 and all("keeps no sample" in (s["error"] or "") for s in run["samples"])
    assert {s["error_kind"] for s in run["samples"]} == {"data"}


def test_a_negative_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--audiollm-seed", "-1", "--audiollm-model", "demo", "--audiollm-benchmark", "demo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--audiollm-seed: expected an integer >= 0, got '-1'*"])


def test_a_model_arg_that_is_not_yaml_stays_a_string(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-model-arg", "prompt=[oops", "-q")
    assert result.ret == 0, result.stdout.str()  # it was an INTERNALERROR


def test_a_yaml_alias_bomb_is_refused_while_reading(tmp_path: Path) -> None:
    """Twelve levels of nine aliases stand for 9^12 (about 2.8e11) items; reading stops at the 101st alias."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 13):
        levels.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    bomb = tmp_path / "bench_bomb.yaml"
    bomb.write_text("name: x\ntask: classification\n" + "\n".join(levels) + "\nmetrics: *l12\n")
    with pytest.raises(SpecError, match="more than 100 YAML aliases"):
        load_spec(bomb, KINDS)


def test_ids_that_collide_once_made_safe_get_a_digest_and_keep_their_original(tmp_path: Path) -> None:
    ids = ["猫", "狗", "dog/1", "dog_1", "plain", "a b"]
    rows = [{"id": sample_id, "audio": f"{i}.wav", "reference": "x"} for i, sample_id in enumerate(ids)]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    samples = list_samples(DataSpec("jsonl", "m.jsonl", tmp_path), "b")
    made = [s.id for s in samples]
    assert len(set(made)) == 6 and made[4] == "plain" and made[5] == "a_b"  # lone ids keep their plain safe form
    assert [s.source_id for s in samples] == ["猫", "狗", "dog/1", "dog_1", None, "a b"]
    assert made[0].startswith("_-") and made[2].startswith("dog_1-") and made[3].startswith("dog_1-")
    again = list_samples(DataSpec("jsonl", "m.jsonl", tmp_path), "b")
    assert [s.id for s in again] == made  # stable: the digest comes from the original id
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in [rows[0], rows[0]]) + "\n")
    with pytest.raises(SpecError, match="duplicate sample id '猫' \\(lines 1 and 2"):
        list_samples(DataSpec("jsonl", "m.jsonl", tmp_path), "b")
