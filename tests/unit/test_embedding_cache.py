"""The on-disk embedding cache: hits, misses on any key change, corrupt files, concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_audiollm.features.embedding_cache import (
    CACHE_VERSION,
    EmbeddingCache,
    content_hash,
    default_embedding_root,
)

REPO = Path(__file__).resolve().parents[2]


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "embedding": rng.standard_normal((3, 2048)).astype(np.float32),
        "logits": rng.standard_normal((3, 527)),
        "frames": np.arange(3, dtype=np.int64),
    }


def _same(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray]) -> bool:
    return (
        a is not None
        and a.keys() == b.keys()
        and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in b)
    )


def test_hit_and_layout(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("a" * 64, "c" * 64, "clean")
    assert len(key) == 64
    assert cache.get(key) is None
    path = cache.put(key, _arrays())
    assert path == tmp_path / key[:2] / key[2:4] / f"{key}.npz" and path.is_file()
    assert _same(cache.get(key), _arrays())
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_changed_audio_is_a_miss(tmp_path: Path) -> None:
    audio = tmp_path / "ref.wav"
    audio.write_bytes(b"RIFF" + bytes(100))
    cache = EmbeddingCache(tmp_path / "cache")
    first = content_hash(audio)
    cache.put(cache.key(first, "c" * 64, "clean"), _arrays())
    assert _same(cache.get(cache.key(content_hash(audio), "c" * 64, "clean")), _arrays())
    audio.write_bytes(b"RIFF" + bytes(99) + b"\x01")  # same name, same size, other bytes
    second = content_hash(audio)
    assert second != first
    assert cache.get(cache.key(second, "c" * 64, "clean")) is None


def test_checkpoint_preset_and_version_are_part_of_the_key(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("a" * 64, "c" * 64, "clean")
    cache.put(key, _arrays())
    others = [
        cache.key("a" * 64, "d" * 64, "clean"),
        cache.key("a" * 64, "c" * 64, "audioldm_eval-0.0.3"),
        EmbeddingCache(tmp_path, version=CACHE_VERSION + "-next").key("a" * 64, "c" * 64, "clean"),
    ]
    assert len({key, *others}) == 4
    assert all(cache.get(k) is None for k in others)
    assert cache.key("ab", "c", "d") != cache.key("a", "bc", "d")  # fields cannot run into each other


def test_corrupt_or_foreign_files_are_misses_and_get_overwritten(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("a" * 64, "c" * 64, "clean")
    path = cache.put(key, _arrays())
    good = path.read_bytes()
    for broken in (b"", b"garbage" * 10, good[: len(good) // 2]):
        path.write_bytes(broken)
        assert cache.get(key) is None
    cache.put(key, _arrays(1))
    assert _same(cache.get(key), _arrays(1))
    other = cache.key("b" * 64, "c" * 64, "clean")  # a valid entry copied under another key is not trusted
    cache.path(other).parent.mkdir(parents=True, exist_ok=True)
    cache.path(other).write_bytes(path.read_bytes())
    assert cache.get(other) is None
    np.savez(cache.path(other), embedding=np.zeros(2))  # an .npz without our key record
    assert cache.get(other) is None


def test_put_refuses_what_cannot_be_read_back_safely(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("a" * 64, "c" * 64, "clean")
    with pytest.raises(ValueError, match="dtype object"):
        cache.put(key, {"x": np.array([{"a": 1}], dtype=object)})
    for name in ("__meta__", "allow_pickle", "file", ""):
        with pytest.raises(ValueError, match="must not be empty, start with '__'"):
            cache.put(key, {name: np.zeros(1)})
    with pytest.raises(ValueError, match="not a cache key"):
        cache.path("../../etc/passwd")


def test_default_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(tmp_path))
    assert default_embedding_root() == tmp_path / "embeddings"
    assert EmbeddingCache().root == tmp_path / "embeddings"
    monkeypatch.delenv("AUDIOLLM_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_embedding_root() == Path.home() / ".cache" / "pytest-audiollm" / "embeddings"


_WRITER = """
import sys, time
import numpy as np
from pytest_audiollm.features.embedding_cache import EmbeddingCache
root, key, start, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
arrays = {"embedding": rng.standard_normal((64, 2048)).astype(np.float32), "logits": rng.standard_normal((64, 527))}
cache = EmbeddingCache(root)
while time.time() < start:
    time.sleep(0.001)
for _ in range(n):
    cache.put(key, arrays)
"""


def test_two_processes_writing_the_same_key(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("a" * 64, "c" * 64, "clean")
    rng = np.random.default_rng(0)
    expected: dict[str, np.ndarray] = {
        "embedding": rng.standard_normal((64, 2048)).astype(np.float32),
        "logits": rng.standard_normal((64, 527)),
    }
    start = time.time() + 1.0
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), key, str(start), "25"], env=env)
        for _ in range(2)
    ]
    reads = hits = 0
    while any(w.poll() is None for w in writers):
        got = cache.get(key)
        reads += 1
        if got is not None:
            hits += 1
            assert _same(got, expected)  # a reader never sees a partial or mixed entry
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    assert _same(cache.get(key), expected)
    assert [p.name for p in cache.path(key).parent.iterdir()] == [f"{key}.npz"]
    assert reads > 0
