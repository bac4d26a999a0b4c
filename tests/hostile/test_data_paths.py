"""Hostile data (issue: data paths): a manifest that points outside its folder, a long file with a short
``max_seconds``, and a ``download --url`` whose file name climbs out of ``--dest``. Real files, real pytest
sessions, a real loopback HTTP server."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import (
    BENCH_YAML,
    SineDataset,
    load_results,
    run_by_benchmark,
    write_tone,
)

from pytest_audiollm.audio import load_audio
from pytest_audiollm.benchmarks.data_spec import DataSpec
from pytest_audiollm.benchmarks.sources import list_samples
from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.errors import SpecError

# --- manifest paths stay in the manifest's folder or the data home ------------------------------------------


def _outside_samples(sines: SineDataset, elsewhere: Path) -> None:
    """Three extra manifest lines whose audio is outside the manifest's folder: ``../``, absolute, a symlink."""
    root = sines.root
    write_tone(root.parent / f"{root.name}-secret.wav", 220.0)
    write_tone(elsewhere / "abs.wav", 330.0)
    write_tone(elsewhere / "linked.wav", 440.0)
    (root / "audio" / "link.wav").symlink_to(elsewhere / "linked.wav")
    lines = (root / "data.jsonl").read_text().splitlines()
    lines += [
        json.dumps({"id": "up", "audio": f"../{root.name}-secret.wav", "label": "low"}),
        json.dumps({"id": "abs", "audio": str(elsewhere / "abs.wav"), "label": "low"}),
        json.dumps({"id": "link", "audio": "audio/link.wav", "label": "low"}),
    ]
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")


def test_manifest_paths_outside_its_folder_fail_only_their_sample(sines: SineDataset, tmp_path: Path) -> None:
    _outside_samples(sines, tmp_path / "elsewhere")
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=6 + 2, failed=3)  # the six tones and the two gates run
    samples = {s["id"]: s for s in run_by_benchmark(load_results(sines.root / "r.json"), "tones")["samples"]}
    for sample_id, shown in (("up", "-secret.wav"), ("abs", "abs.wav"), ("link", "link.wav")):
        error = samples[sample_id]["error"]
        assert shown in error and str(sines.root.resolve()) in error and "AUDIOLLM_DATA_HOME" in error
        assert "allow_outside: true" in error and samples[sample_id]["error_kind"] == "data"
    assert "which resolves to " + str((tmp_path / "elsewhere" / "linked.wav").resolve()) in samples["link"]["error"]
    assert all(samples[f"{kind}_00{i}"]["error"] is None for kind in ("low", "high") for i in (1, 2, 3))


def test_allow_outside_true_reads_them(sines: SineDataset, tmp_path: Path) -> None:
    yaml_text = BENCH_YAML.replace("  path: data.jsonl\n", "  path: data.jsonl\n  allow_outside: true\n")
    (sines.root / "bench_tones.yaml").write_text(yaml_text)
    _outside_samples(sines, tmp_path / "elsewhere")
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=9 + 2)
    samples = run_by_benchmark(load_results(sines.root / "r.json"), "tones")["samples"]
    assert all(s["error"] is None for s in samples)


def test_the_data_home_is_an_allowed_root(sines: SineDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    write_tone(home / "shared" / "x.wav", 220.0)
    monkeypatch.setenv("AUDIOLLM_DATA_HOME", str(home))
    lines = (sines.root / "data.jsonl").read_text().splitlines()
    lines.append(json.dumps({"id": "home", "audio": str(home / "shared" / "x.wav"), "label": "low"}))
    (sines.root / "data.jsonl").write_text("\n".join(lines) + "\n")
    result = sines.pytester.runpytest("--audiollm-model", "pitch")
    result.assert_outcomes(passed=7 + 2)


def test_folder_symlinks_out_fail_and_shard_members_never_leave_the_shard(tmp_path: Path) -> None:
    write_tone(tmp_path / "clips" / "dog" / "a.wav", 220.0)
    write_tone(tmp_path / "private" / "b.wav", 220.0)
    (tmp_path / "clips" / "dog" / "b.wav").symlink_to(tmp_path / "private" / "b.wav")
    folder = DataSpec("folder", "clips", tmp_path, source="bench.yaml")
    inside, outside = list_samples(folder, "b")
    assert inside.error is None and outside.error is not None and "allow_outside: true" in outside.error
    opened = list_samples(DataSpec("folder", "clips", tmp_path, source="bench.yaml", allow_outside=True), "b")
    assert [s.error for s in opened] == [None, None]
    # a tar member named ../evil.wav is read from the shard, never from the file system
    buf = io.BytesIO()
    sf.write(buf, np.full(1600, 0.25, dtype=np.float32), 16000, format="WAV")
    with tarfile.open(tmp_path / "s.tar", "w") as tar:
        for name, payload in (("../evil.wav", buf.getvalue()), ("../evil.txt", b"low")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (sample,) = list_samples(DataSpec("webdataset", "s.tar", tmp_path, fields={"reference": "txt"}), "b")
    assert sample.error is None and sample.audio is not None
    assert load_audio(sample.audio, 16000).samples.max() == pytest.approx(0.25, abs=1e-4)


def test_allow_outside_must_be_true_or_false() -> None:
    from pytest_audiollm.benchmarks.spec import parse_spec

    _, kinds = builtin_registries()
    raw = {"name": "b", "task": "asr", "metrics": ["wer"], "data": {"format": "jsonl", "path": "m.jsonl"}}
    raw["data"]["allow_outside"] = "yes"  # type: ignore[index]
    with pytest.raises(SpecError, match=r"key 'data.allow_outside': expected true or false, got str 'yes'"):
        parse_spec(raw, source="b.yaml", base_dir=Path("."), kinds=kinds)
    raw["data"]["allow_outside"] = True  # type: ignore[index]
    assert parse_spec(raw, source="b.yaml", base_dir=Path("."), kinds=kinds).data.allow_outside is True
