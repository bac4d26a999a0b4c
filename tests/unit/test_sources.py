"""list_samples for jsonl, csv, folder and webdataset data, on real files in tmp_path."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pytest_audiollm.audio import load_audio
from pytest_audiollm.benchmarks.data_spec import DataSpec
from pytest_audiollm.benchmarks.sources import list_samples, sanitize_id
from pytest_audiollm.errors import SpecError


def _wav_bytes(seconds: float = 0.1, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(rate * seconds)) / rate
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_wav_bytes())
    return path


def _spec(tmp_path: Path, fmt: str, path: str, **fields: str) -> DataSpec:
    return DataSpec(format=fmt, path=path, base_dir=tmp_path, source=str(tmp_path / "bench.yaml"), fields=fields)


def _jsonl(path: Path, lines: list[object | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n")
    return path


# --- jsonl ------------------------------------------------------------------------------------------------


def test_jsonl_basic_fields_and_paths(tmp_path: Path) -> None:
    _wav(tmp_path / "data" / "audio" / "a.wav")
    absolute = _wav(tmp_path / "elsewhere" / "b.wav")
    _jsonl(
        tmp_path / "data" / "test.jsonl",
        [
            {"audio": "audio/a.wav", "reference": "hello", "prompt": "Transcribe.", "speaker": "s1"},
            "",
            {"audio": str(absolute), "reference": ["a dog", "a barking dog"], "id": "clip 2/b"},
        ],
    )
    spec = dataclasses.replace(_spec(tmp_path, "jsonl", "data/test.jsonl"), allow_outside=True)  # elsewhere/
    samples = list_samples(spec, "asr")
    assert [s.id for s in samples] == ["a", "clip_2_b"] and [s.error for s in samples] == [None, None]
    first, second = samples
    assert first.audio is not None and first.audio.path == str(tmp_path / "data" / "audio" / "a.wav")
    assert first.references == ("hello",)
    assert first.prompt == "Transcribe."
    assert first.meta == {"speaker": "s1"}
    assert first.benchmark == "asr" and first.error is None
    assert second.audio is not None and second.audio.path == str(absolute)
    assert second.references == ("a dog", "a barking dog")
    assert second.prompt == ""
    assert load_audio(first.audio, 16000).samples.shape[0] == 1600


def test_jsonl_bad_line_fails_only_its_sample(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "m.jsonl",
        [{"audio": "a.wav", "reference": "x"}, "{not json", "[1, 2]", {"audio": "b.wav", "reference": "y"}],
    )
    samples = list_samples(_spec(tmp_path, "jsonl", "m.jsonl"), "b")
    assert [s.id for s in samples] == ["a", "line2", "line3", "b"]
    assert samples[1].error is not None
    assert samples[1].error.startswith(f"{path} line 2 is not valid JSON: ")
    assert samples[2].error is not None and "line 3 is not a JSON object" in samples[2].error
    assert samples[0].error is None and samples[3].error is None


def test_jsonl_missing_audio_and_reference(tmp_path: Path) -> None:
    _jsonl(tmp_path / "m.jsonl", [{"reference": "x", "id": "noaudio"}, {"audio": "c.wav"}])
    no_audio, no_ref = list_samples(_spec(tmp_path, "jsonl", "m.jsonl"), "b")
    assert no_audio.id == "noaudio" and no_audio.audio is None
    assert no_audio.error is not None and "line 1: no 'audio' field" in no_audio.error
    assert no_ref.id == "c" and no_ref.references == ()
    assert no_ref.error is not None and "no 'reference' field" in no_ref.error


def test_jsonl_custom_field_names(tmp_path: Path) -> None:
    _jsonl(tmp_path / "m.jsonl", [{"wav": "a.wav", "text": "hi", "uid": "u1", "instruction": "Say."}])
    spec = _spec(tmp_path, "jsonl", "m.jsonl", audio="wav", reference="text", id="uid", prompt="instruction")
    (sample,) = list_samples(spec, "b")
    assert (sample.id, sample.references, sample.prompt, sample.meta) == ("u1", ("hi",), "Say.", {})


def test_jsonl_duplicate_id(tmp_path: Path) -> None:
    rows: list[object | str] = [{"audio": f"{i}.wav", "reference": "r"} for i in range(6)]
    rows.append({"audio": "other/2.wav", "reference": "r"})
    path = _jsonl(tmp_path / "m.jsonl", rows)
    with pytest.raises(SpecError, match=rf"duplicate sample id '2' \(lines 3 and 7 of {path}\)") as info:
        list_samples(_spec(tmp_path, "jsonl", "m.jsonl"), "b")
    assert info.value.key == "data"


def test_jsonl_limit(tmp_path: Path) -> None:
    _jsonl(tmp_path / "m.jsonl", [{"audio": f"{i}.wav", "reference": "r"} for i in range(10)])
    assert [s.id for s in list_samples(_spec(tmp_path, "jsonl", "m.jsonl"), "b", limit=3)] == ["0", "1", "2"]
    assert list_samples(_spec(tmp_path, "jsonl", "m.jsonl"), "b", limit=0) == []


def test_missing_path_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.jsonl does not exist \(relative paths are resolved") as info:
        list_samples(_spec(tmp_path, "jsonl", "nope.jsonl"), "b")
    assert info.value.key == "data.path"
    with pytest.raises(SpecError, match="jsonl, csv, webdataset, folder"):
        list_samples(_spec(tmp_path, "parquet", "x"), "b")


def test_data_home_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _jsonl(home / "set" / "m.jsonl", [{"audio": "a.wav", "reference": "r"}])
    monkeypatch.setenv("AUDIOLLM_DATA_HOME", str(home))
    (sample,) = list_samples(_spec(tmp_path / "yaml_dir", "jsonl", "set/m.jsonl"), "b")
    assert sample.audio is not None and sample.audio.path == str(home / "set" / "a.wav")


def test_sanitize_id() -> None:
    assert sanitize_id("a b/c:d.é-1_2") == "a_b_c_d._-1_2"
    assert sanitize_id("") == "_"


# --- csv --------------------------------------------------------------------------------------------------


def test_csv_rows_lists_and_errors(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(
        "audio,reference,lang\n"
        "a.wav,hello,en\n"
        'b.wav,"[""a cat"", ""a small cat""]",en\n'
        "c.wav,[music] playing,fr\n"
        "d.wav,,en\n"
        "e.wav,one,two,three\n"
    )
    a, b, c, d, e = list_samples(_spec(tmp_path, "csv", "m.csv"), "b")
    assert a.references == ("hello",) and a.meta == {"lang": "en"} and a.error is None
    assert a.audio is not None and a.audio.path == str(tmp_path / "a.wav")
    assert b.references == ("a cat", "a small cat")
    assert c.references == ("[music] playing",)
    assert d.error is not None and "line 5: no 'reference' field" in d.error
    assert e.error is not None and "line 6 has 4 cells but the header has 3" in e.error


def test_csv_duplicate_and_limit(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,audio,reference\nx,a.wav,r\ny,b.wav,r\nx,c.wav,r\n")
    assert [s.id for s in list_samples(_spec(tmp_path, "csv", "m.csv"), "b", limit=2)] == ["x", "y"]
    with pytest.raises(SpecError, match=r"duplicate sample id 'x' \(lines 2 and 4 of "):
        list_samples(_spec(tmp_path, "csv", "m.csv"), "b")


# --- folder -----------------------------------------------------------------------------------------------


def test_folder_labels_sidecars_and_ids(tmp_path: Path) -> None:
    root = tmp_path / "clips"
    _wav(root / "dog" / "b 1.wav")
    _wav(root / "dog" / "a.flac")
    _wav(root / "cat" / "z.wav")
    _wav(root / "cat" / "special.wav")
    (root / "cat" / "special.txt").write_text("a lion\n\na big cat\n")
    _wav(root / "top.wav")
    (root / "top.txt").write_text("top label\n")
    _wav(root / "orphan.wav")
    (root / "dog" / "notes.md").write_text("not audio")
    (root / "dog" / "._a.wav").write_bytes(b"macOS resource fork")
    samples = list_samples(_spec(tmp_path, "folder", "clips"), "b")
    by_id = {s.id: s for s in samples}
    assert [s.id for s in samples] == ["cat.special", "cat.z", "dog.a", "dog.b_1", "orphan", "top"]
    assert by_id["dog.a"].references == ("dog",)
    assert by_id["cat.z"].references == ("cat",)
    assert by_id["cat.special"].references == ("a lion", "a big cat")
    assert by_id["top"].references == ("top label",)
    assert by_id["orphan"].error is not None and "no orphan.txt" in by_id["orphan"].error
    assert by_id["dog.b_1"].audio is not None
    assert by_id["dog.b_1"].audio.path == str(root / "dog" / "b 1.wav")
    assert [s.id for s in list_samples(_spec(tmp_path, "folder", "clips"), "b", limit=2)] == [
        "cat.special",
        "cat.z",
    ]


def test_folder_duplicate_ids(tmp_path: Path) -> None:
    _wav(tmp_path / "clips" / "dog" / "x.wav")
    _wav(tmp_path / "clips" / "dog" / "x.flac")
    with pytest.raises(SpecError, match=r"duplicate sample id 'dog.x' \(dog/x.flac and dog/x.wav in "):
        list_samples(_spec(tmp_path, "folder", "clips"), "b")


# --- webdataset -------------------------------------------------------------------------------------------


def _shard(path: Path, samples: list[dict[str, object]]) -> Path:
    import webdataset as wds

    path.parent.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(path)) as sink:
        for sample in samples:
            sink.write(sample)
    return path


def _wds_sample(key: str, fields: dict[str, object] | None, ext: str = "wav") -> dict[str, object]:
    sample: dict[str, object] = {"__key__": key, ext: _wav_bytes()}
    if fields is not None:
        sample["json"] = json.dumps(fields).encode()
    return sample


def test_webdataset_brace_pattern_two_shards(tmp_path: Path) -> None:
    _shard(
        tmp_path / "shards" / "part-000.tar",
        [
            _wds_sample("k0", {"caption": ["a dog barks", "barking"], "src": "x"}),
            _wds_sample("k1", {"caption": "rain"}),
        ],
    )
    _shard(tmp_path / "shards" / "part-001.tar", [_wds_sample("k2", {"caption": "wind", "id": "w/2"})])
    spec = _spec(tmp_path, "webdataset", "shards/part-{000..001}.tar", reference="caption")
    samples = list_samples(spec, "caps")
    assert [s.id for s in samples] == ["k0", "k1", "w_2"]
    assert samples[0].references == ("a dog barks", "barking")
    assert samples[0].meta == {"src": "x"}
    assert all(s.error is None for s in samples)
    ref = samples[2].audio
    assert ref is not None and ref.path == str(tmp_path / "shards" / "part-001.tar") and ref.member == "k2.wav"
    audio = load_audio(ref, 8000)
    assert audio.original_sample_rate == 16000 and audio.samples.shape[0] == 800
    assert [s.id for s in list_samples(spec, "caps", limit=2)] == ["k0", "k1"]


def test_webdataset_folder_glob_and_single_shard(tmp_path: Path) -> None:
    _shard(tmp_path / "d" / "b.tar", [_wds_sample("b0", {"reference": "x"})])
    _shard(tmp_path / "d" / "a.tar", [_wds_sample("a0", {"reference": "y"}, ext="flac")])
    for path in ("d", "d/*.tar"):
        assert [s.id for s in list_samples(_spec(tmp_path, "webdataset", path), "b")] == ["a0", "b0"]
    (only,) = list_samples(_spec(tmp_path, "webdataset", "d/a.tar"), "b")
    assert only.audio is not None and only.audio.member == "a0.flac"


def test_webdataset_problems(tmp_path: Path) -> None:
    _shard(
        tmp_path / "s.tar",
        [
            _wds_sample("noref", {"other": 1}),
            _wds_sample("nojson", None),
            {"__key__": "noaudio", "json": b'{"reference": "r"}'},
            {"__key__": "txtref", "wav": _wav_bytes(), "txt": b"from txt\n"},
            {"__key__": "badjson", "wav": _wav_bytes(), "json": b"{oops"},
        ],
    )
    by_id = {s.id: s for s in list_samples(_spec(tmp_path, "webdataset", "s.tar"), "b")}
    assert set(by_id) == {"noref", "nojson", "noaudio", "txtref", "badjson"}
    assert "no 'reference' field" in str(by_id["noref"].error)
    assert "no 'reference' field" in str(by_id["nojson"].error)
    assert "no audio member" in str(by_id["noaudio"].error) and by_id["noaudio"].audio is None
    assert "badjson.json is not valid JSON" in str(by_id["badjson"].error)
    assert by_id["txtref"].error is not None  # .txt is only read when a field is named "txt"
    (txt,) = [s for s in list_samples(_spec(tmp_path, "webdataset", "s.tar", reference="txt"), "b") if s.id == "txtref"]
    assert txt.references == ("from txt",) and txt.error is None


def test_webdataset_duplicate_and_missing(tmp_path: Path) -> None:
    _shard(tmp_path / "p-0.tar", [_wds_sample("k", {"reference": "a"})])
    _shard(tmp_path / "p-1.tar", [_wds_sample("k", {"reference": "b"})])
    with pytest.raises(SpecError, match=r"duplicate sample id 'k' \(key 'k' of .*p-0.tar and key 'k' of .*p-1"):
        list_samples(_spec(tmp_path, "webdataset", "p-{0..1}.tar"), "b")
    with pytest.raises(SpecError, match=r"p-2\.tar does not exist"):
        list_samples(_spec(tmp_path, "webdataset", "p-{0..2}.tar"), "b")
    with pytest.raises(SpecError, match="matches no files"):
        list_samples(_spec(tmp_path, "webdataset", "q-*.tar"), "b")
    (tmp_path / "bad.tar").write_bytes(b"not a tar" * 100)
    with pytest.raises(SpecError, match="not a readable tar shard"):
        list_samples(_spec(tmp_path, "webdataset", "bad.tar"), "b")


@pytest.mark.parametrize(
    "name",
    ["a.wav", "dir/a.b.json", "x/y/z", "k.tar.gz", ".hidden", "a/.b.c", "noext", "a..b", "dir.v1/key.flac", ""],
)
def test_member_key_rule_equals_webdataset(name: str) -> None:
    from webdataset.tariterators import base_plus_ext as reference

    from pytest_audiollm.benchmarks.sources import base_plus_ext

    assert base_plus_ext(name) == reference(name)
