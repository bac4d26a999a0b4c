"""Hostile data (issue: data paths): a manifest that points outside its folder, a long file with a short
``max_seconds``, and a ``download --url`` whose file name climbs out of ``--dest``. Real files, real pytest
sessions, a real loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from plugin_helpers import (
    BENCH_YAML,
    REPO,
    SineDataset,
    load_results,
    loopback_server,
    run_by_benchmark,
    write_tone,
)

from pytest_audiollm.audio import decode_audio_bytes, load_audio
from pytest_audiollm.benchmarks.data_spec import DataSpec
from pytest_audiollm.benchmarks.sources import list_samples
from pytest_audiollm.builtins import builtin_registries
from pytest_audiollm.errors import SpecError
from pytest_audiollm.features.weights import CheckpointSpec, DownloadError, download_checkpoint
from pytest_audiollm.sample import AudioRef

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


# --- max_seconds decodes only what is kept -------------------------------------------------------------------


def _full_decode_then_crop(path: Path, target: int, max_seconds: float | None) -> tuple[np.ndarray, float, float]:
    """What load_audio did before partial decoding: decode everything, mix, cut, resample, cut."""
    frames, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float32)
    duration, truncated = frames.shape[0] / rate, 0.0
    if max_seconds is not None and duration > max_seconds:
        mono, truncated = mono[: int(np.ceil(max_seconds * rate))], duration - max_seconds
    if rate != target:
        mono = np.asarray(soxr.resample(mono, rate, target, quality="HQ"), dtype=np.float32)
    if max_seconds is not None:
        mono = mono[: round(max_seconds * target)]
    return mono, duration, truncated


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_decoding_with_the_cap_equals_full_decode_then_crop(tmp_path: Path, fmt: str, rate: int) -> None:
    rng = np.random.default_rng(rate)
    for channels in (1, 2):
        path = tmp_path / f"x{channels}.{fmt.lower()}"
        sf.write(path, (0.3 * rng.standard_normal((rate, channels))).astype(np.float32), rate, format=fmt)
        for max_seconds in (None, 0.25, 1 / 3, 1.0, 1.0 + 0.5 / rate, 7.0):
            for target in (16000, rate):
                expected, duration, truncated = _full_decode_then_crop(path, target, max_seconds)
                for decoded in (
                    load_audio(AudioRef(str(path)), target, max_seconds),
                    decode_audio_bytes(path.read_bytes(), path.name, target, max_seconds),  # a tar member's way
                ):
                    assert np.array_equal(decoded.samples, expected), (channels, max_seconds, target)
                    assert (decoded.duration_s, decoded.truncated_s) == (duration, truncated)
                    assert decoded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_hour_of_flac_with_max_seconds_10_allocates_little(tmp_path: Path) -> None:
    path = tmp_path / "hour.flac"
    with sf.SoundFile(path, "w", 16000, 1, format="FLAC", subtype="PCM_16") as f:
        f.write((0.5 * np.sin(2 * np.pi * 440 * np.arange(16000 * 20) / 16000)).astype(np.float32))
        silence = np.zeros(16000 * 60, dtype=np.float32)
        for _ in range(60):  # 20 s of tone, then an hour of silence: small on disk, 230 MB decoded
            f.write(silence)
    tracemalloc.start()
    try:
        decoded = load_audio(AudioRef(str(path)), 16000, max_seconds=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded.samples.shape == (160000,) and np.abs(decoded.samples).max() > 0.4
    assert decoded.duration_s == 3620.0 and decoded.truncated_s == 3610.0
    assert peak < 50 * 2**20, f"loading 10 s of an hour-long FLAC allocated {peak / 2**20:.0f} MiB"


# --- download --url never writes outside --dest ---------------------------------------------------------------

PAYLOAD = b"not really a checkpoint\n" * 100
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """Serves PAYLOAD for every path; /named.bin also says Content-Disposition: filename="../../evil"."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            if self.path.startswith("/named.bin"):
                self.send_header("Content-Disposition", 'attachment; filename="../../evil"')
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_server(Handler) as base:
        yield base, seen


def _download(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_audiollm", "download", *args],
        check=False, capture_output=True, text=True, timeout=60, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


@pytest.mark.parametrize(
    ("segment", "shown"),
    [
        ("..%2F..%2Fevil.txt", "'../../evil.txt'"),
        ("%2E%2E", "'..'"),
        ("%2Ftmp%2Fevil.txt", "'/tmp/evil.txt'"),
        ("%2F..%2F..%2Fevil.txt", "'/../../evil.txt'"),  # the old code wrote a/b/evil.txt.*.part, then /evil.txt
        ("..%5C..%5Cevil.txt", r"'..\\..\\evil.txt'"),
        ("evil%0A.txt", r"'evil\n.txt'"),
    ],
)
def test_a_url_file_name_that_leaves_dest_is_refused(
    server: tuple[str, list[str]], tmp_path: Path, segment: str, shown: str
) -> None:
    base, seen = server
    dest = tmp_path / "a" / "b" / "dest"
    done = _download("custom", "--url", f"{base}/{segment}", "--sha256", PAYLOAD_SHA256, "--dest", str(dest))
    assert done.returncode == 1, done.stderr
    assert shown in done.stderr and "--dest" in done.stderr and "Traceback" not in done.stderr
    assert seen == [] and _files(tmp_path) == []  # refused before any request: nothing written anywhere


def test_content_disposition_is_ignored_and_empty_names_fall_back_to_name(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, _ = server
    dest = tmp_path / "a" / "b" / "dest"
    done = _download("custom", "--url", f"{base}/named.bin", "--sha256", PAYLOAD_SHA256, "--dest", str(dest))
    assert done.returncode == 0, done.stderr
    assert _files(tmp_path) == ["a/b/dest/named.bin"]  # the URL's name; the header's ../../evil is not used
    done = _download("new.pth", "--url", f"{base}/dir/", "--sha256", PAYLOAD_SHA256, "--dest", str(dest))
    assert done.returncode == 0 and Path(done.stdout.strip()) == dest / "new.pth", done.stderr
    refused = _download("../up.pth", "--url", f"{base}/dir/", "--sha256", PAYLOAD_SHA256, "--dest", str(dest))
    assert refused.returncode == 1 and "'../up.pth'" in refused.stderr
    assert _files(tmp_path) == ["a/b/dest/named.bin", "a/b/dest/new.pth"]


def test_download_checkpoint_refuses_a_spec_whose_file_name_is_a_path(tmp_path: Path) -> None:
    spec = CheckpointSpec(
        name="x", description="x", filename="../x.pth", url="http://127.0.0.1:9/x", sha256="0" * 64, env_var="X"
    )
    with pytest.raises(DownloadError, match=r"is '../x.pth', which is not a plain file name"):
        download_checkpoint(spec, cache_dir=tmp_path / "dest")
    assert _files(tmp_path) == []
