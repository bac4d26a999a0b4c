"""Backbone checkpoints: registry, resolution, download from a loopback HTTP server, safe loading, the CLI."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import loopback_server

from pytest_audiollm.errors import MissingDependency
from pytest_audiollm.features.weights import (
    CHECKPOINTS,
    CheckpointError,
    CheckpointMismatch,
    CheckpointSpec,
    DownloadError,
    MissingCheckpoint,
    checkpoint_digest,
    checkpoint_dir,
    download_checkpoint,
    load_state_dict,
    resolve_checkpoint,
)

PAYLOAD = bytes(range(256)) * 41 + b"tail"  # 10,500 bytes: several reads, not a multiple of anything
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    base: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    """A loopback HTTP server: /tiny.pth (PAYLOAD), /cut.pth (announces more bytes than it sends), else 404."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path.startswith("/tiny.pth"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
            elif self.path == "/cut.pth":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD[:1000])
                self.close_connection = True
            else:
                self.send_error(404, "Not Found")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_server(Handler) as base:
        yield Server(base, seen)


def _spec(url: str, **kw: Any) -> CheckpointSpec:
    base = CheckpointSpec(
        name="tiny-test", description="tiny test checkpoint", filename="tiny.pth", url=url,
        sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5, size=len(PAYLOAD), env_var="AUDIOLLM_TINY_TEST_CHECKPOINT",
    )  # fmt: skip
    return replace(base, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_registry_pins_the_official_files() -> None:
    assert set(CHECKPOINTS) == {"cnn14-16k", "cnn14-32k", "vggish"}
    c16, c32, vgg = CHECKPOINTS["cnn14-16k"], CHECKPOINTS["cnn14-32k"], CHECKPOINTS["vggish"]
    assert (c16.filename, c32.filename, vgg.filename) == (
        "Cnn14_16k_mAP=0.438.pth",
        "Cnn14_mAP=0.431.pth",
        "vggish-10086976.pth",
    )
    assert "zenodo.org/records/3987831/" in c16.url and "zenodo.org/records/3576403/" in c32.url
    assert vgg.url == "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
    assert (c16.md5, c32.md5) == ("362fc5ff18f1d6ad2f6d464b45893f2c", "541141fa2ee191a88f24a3219fff024e")
    assert vgg.sha256.startswith("10086976")  # torch.hub's check_hash convention: the file name carries the prefix
    for spec in CHECKPOINTS.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
    with pytest.raises(TypeError):
        CHECKPOINTS["x"] = c16  # type: ignore[index]


def test_download_verifies_and_renames_atomically(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "ckpts"
    path = download_checkpoint(_spec(server.base + "/tiny.pth"), cache_dir=dest)
    assert path == dest / "tiny.pth" and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.iterdir()) == ["tiny.pth"]  # no temporary file left
    assert checkpoint_digest(path) == PAYLOAD_SHA256
    # already there with the right hash: kept, nothing downloaded
    assert download_checkpoint(_spec(server.base + "/tiny.pth"), cache_dir=dest) == path
    assert server.requests == ["/tiny.pth"]


def test_wrong_hash_deletes_the_file_and_names_both_hashes(server: Server, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(CheckpointMismatch) as info:
        download_checkpoint(_spec(server.base + "/tiny.pth", sha256=wrong), cache_dir=tmp_path)
    assert info.value.expected == wrong and info.value.actual == PAYLOAD_SHA256
    assert wrong in str(info.value) and PAYLOAD_SHA256 in str(info.value)
    assert list(tmp_path.iterdir()) == []
    # a real entry downloaded from a mirror URL is still held to its pinned SHA-256, MD5 and size
    with pytest.raises(CheckpointMismatch) as info:
        download_checkpoint("cnn14-16k", cache_dir=tmp_path, url=server.base + "/tiny.pth")
    message = str(info.value)
    assert CHECKPOINTS["cnn14-16k"].sha256 in message and PAYLOAD_SHA256 in message
    assert "362fc5ff18f1d6ad2f6d464b45893f2c" in message and "358668570" in message
    assert list(tmp_path.iterdir()) == []


def test_http_errors_and_refused_connections_are_clear(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404 Not Found") as info:
        download_checkpoint(_spec(server.base + "/missing.pth"), cache_dir=tmp_path)
    assert "AUDIOLLM_TINY_TEST_CHECKPOINT" in str(info.value)
    refused = f"http://127.0.0.1:{_free_port()}/tiny.pth"
    with pytest.raises(DownloadError, match=r"(?i)refused"):
        download_checkpoint(_spec(refused), cache_dir=tmp_path, timeout=5)
    with pytest.raises(DownloadError, match=r"cut off|IncompleteRead"):
        download_checkpoint(_spec(server.base + "/cut.pth"), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_mirror_is_tried_when_the_official_url_is_unreachable(server: Server, tmp_path: Path) -> None:
    spec = _spec(f"http://127.0.0.1:{_free_port()}/tiny.pth", mirrors=(server.base + "/tiny.pth?download=1",))
    assert download_checkpoint(spec, cache_dir=tmp_path).read_bytes() == PAYLOAD


def test_resolution_order_path_env_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec("http://127.0.0.1:9/unused")
    monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(spec.env_var, raising=False)
    assert checkpoint_dir() == tmp_path / "cache" / "checkpoints"
    cached = checkpoint_dir() / spec.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    assert resolve_checkpoint(spec) == cached
    env_file = tmp_path / "env" / "tiny.pth"
    env_file.parent.mkdir()
    env_file.write_bytes(PAYLOAD)
    monkeypatch.setenv(spec.env_var, str(env_file))
    assert resolve_checkpoint(spec) == env_file
    monkeypatch.setenv(spec.env_var, str(env_file.parent))  # a directory holding the file name works too
    assert resolve_checkpoint(spec) == env_file
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(PAYLOAD)
    assert resolve_checkpoint(spec, explicit) == explicit
    # verification: a different file is refused unless verify=False
    other = tmp_path / "other.pth"
    other.write_bytes(b"not the checkpoint")
    with pytest.raises(CheckpointMismatch, match=PAYLOAD_SHA256):
        resolve_checkpoint(spec, other)
    assert resolve_checkpoint(spec, other, verify=False) == other


def test_missing_checkpoint_skips_with_the_download_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AUDIOLLM_CNN14_16K_CHECKPOINT", raising=False)
    with pytest.raises(MissingCheckpoint) as info:
        resolve_checkpoint("cnn14-16k", needed_for="FD (CNN14)")
    exc = info.value
    assert isinstance(exc, MissingDependency)  # the plugin skips items on MissingDependency
    message = str(exc)
    assert "`python -m pytest_audiollm download cnn14-16k`" in message
    assert "AUDIOLLM_CNN14_16K_CHECKPOINT=/path/to/Cnn14_16k_mAP=0.438.pth" in message
    assert "FD (CNN14)" in message and str(tmp_path / "checkpoints") in message and "\n" not in message
    assert exc.install == "python -m pytest_audiollm download cnn14-16k"
    monkeypatch.setenv("AUDIOLLM_VGGISH_CHECKPOINT", str(tmp_path / "nowhere.pth"))
    with pytest.raises(MissingCheckpoint, match=r"\$AUDIOLLM_VGGISH_CHECKPOINT points to .*nowhere\.pth"):
        resolve_checkpoint("vggish")
    with pytest.raises(MissingCheckpoint, match=r"the path given points to"):
        resolve_checkpoint("cnn14-32k", tmp_path / "absent.pth")


def test_checkpoint_digest_follows_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 100)
    assert checkpoint_digest(f) == hashlib.sha256(b"a" * 100).hexdigest()
    f.write_bytes(b"b" * 101)
    assert checkpoint_digest(f) == hashlib.sha256(b"b" * 101).hexdigest()


def _panns_checkpoint(legacy_numpy_names: bool) -> dict[str, Any]:
    """Shaped like Cnn14*_mAP=*.pth: the state dict under "model" plus training state holding NumPy arrays."""
    import numpy as np
    import torch

    model = {"conv_block1.conv1.weight": torch.randn(4, 1, 3, 3), "fc_audioset.bias": torch.zeros(527)}
    sampler = {
        "indexes_per_class": [np.arange(5, dtype=np.int64), np.arange(3, dtype=np.int64)],
        "pointers_of_classes": np.zeros(527, dtype=np.int64),
        "random_state": np.random.RandomState(0).get_state(),  # ('MT19937', uint32 array, int, int, float)
        "count": np.int64(7),
    }
    return {"iteration": 0, "model": model, "sampler": sampler}


def _save_as_numpy1(obj: Any, path: Path, *, zip_format: bool) -> None:
    """torch.save with NumPy's pickling functions named as NumPy 1.x names them (numpy.core.multiarray)."""
    import numpy as np
    import torch

    multiarray: Any = np._core.multiarray  # type: ignore[attr-defined]
    saved = {fn: fn.__module__ for fn in (multiarray._reconstruct, multiarray.scalar)}
    try:
        for fn in saved:
            fn.__module__ = "numpy.core.multiarray"
        torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    finally:
        for fn, module in saved.items():
            fn.__module__ = module
    assert b"numpy.core.multiarray" in (path.read_bytes() if not zip_format else _zip_pickle(path))


def _zip_pickle(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_weights_only_loading_of_a_panns_style_checkpoint(tmp_path: Path, zip_format: bool) -> None:
    torch = pytest.importorskip("torch")
    obj = _panns_checkpoint(legacy_numpy_names=True)
    path = tmp_path / "Cnn14_like.pth"
    _save_as_numpy1(obj, path, zip_format=zip_format)
    with pytest.raises(Exception, match="Weights only load failed"):  # what broke audioldm_eval on torch >= 2.6
        torch.load(path, map_location="cpu", weights_only=True)
    state = load_state_dict(path)
    assert sorted(state) == sorted(obj["model"])
    for name, tensor in obj["model"].items():
        assert torch.equal(state[name], tensor)


def test_plain_state_dict_and_refusals(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import datetime

    import numpy as np

    plain = tmp_path / "vggish_like.pth"
    torch.save({"features.0.weight": torch.ones(2, 2)}, plain)
    assert list(load_state_dict(plain)) == ["features.0.weight"]
    cases = {
        "object_array.pth": {"model": {"w": torch.zeros(1)}, "x": np.array([{"a": 1}], dtype=object)},
        "foreign_global.pth": {"model": {"w": torch.zeros(1)}, "when": datetime.date(2020, 1, 1)},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(CheckpointError, match="cannot be loaded safely"):
            load_state_dict(tmp_path / name)
    torch.save({"model": {"w": torch.zeros(1)}, "note": "x"}, tmp_path / "ok_extras.pth")
    assert list(load_state_dict(tmp_path / "ok_extras.pth")) == ["w"]
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_state_dict(tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict(tmp_path / "absent.pth")
    (tmp_path / "page.pth").write_bytes(b"<html>404</html>")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_state_dict(tmp_path / "page.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(plain.read_bytes()[:-200])
    with pytest.raises(CheckpointError):
        load_state_dict(truncated)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "pytest_audiollm", "download", *args],
        check=False, capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip


def test_cli_download(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    ok = _cli("tiny-test", "--url", server.base + "/tiny.pth", "--sha256", PAYLOAD_SHA256, "--dest", str(dest))
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip()) == dest / "tiny.pth" and (dest / "tiny.pth").read_bytes() == PAYLOAD
    bad = _cli("cnn14-16k", "--url", server.base + "/tiny.pth", "--dest", str(tmp_path / "bad"))
    assert bad.returncode == 1
    assert CHECKPOINTS["cnn14-16k"].sha256 in bad.stderr and PAYLOAD_SHA256 in bad.stderr
    assert list((tmp_path / "bad").iterdir()) == []
    missing = _cli("vggish", "--url", server.base + "/gone.pth", "--dest", str(tmp_path / "gone"))
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    pinned = _cli("cnn14-16k", "--url", server.base + "/tiny.pth", "--sha256", PAYLOAD_SHA256)
    assert pinned.returncode == 2 and "pinned SHA-256" in pinned.stderr
    unknown = _cli("nope")
    assert unknown.returncode == 2 and "cnn14-16k, cnn14-32k, vggish" in unknown.stderr


def test_spec_replace_does_not_touch_the_registry() -> None:
    original = CHECKPOINTS["cnn14-32k"]
    changed = replace(original, sha256="f" * 64)
    assert CHECKPOINTS["cnn14-32k"] is original and changed.sha256 != original.sha256
