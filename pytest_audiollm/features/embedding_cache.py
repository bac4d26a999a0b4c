"""On-disk cache of per-file embeddings, so a fixed reference set is embedded once.

An entry is keyed by the SHA-256 of the audio file's bytes, the backbone checkpoint's digest, the preset name
(front end, resampler, padding ...) and :data:`CACHE_VERSION`: a changed file, checkpoint or preset is a miss and
is embedded again; nothing is reused because a path or a file name matches (unlike audioldm_eval's
``*_feature_cache`` files, which are reused whenever they exist). Each entry is one ``.npz`` file under a
two-level directory (``<root>/ab/cd/<key>.npz``), written to a temporary file in the same directory and moved
into place with :func:`os.replace`, so readers never see a partial file and concurrent writers (xdist workers)
of the same key are safe: the last rename wins and both wrote the same arrays. A file that cannot be read
(truncated, corrupt, written for another key) is a miss and is overwritten by the next :meth:`EmbeddingCache.put`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pytest_audiollm.features.weights import cache_root

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

__all__ = ["CACHE_VERSION", "EmbeddingCache", "content_hash", "default_embedding_root"]

CACHE_VERSION = "1"
"""Bumped when the meaning of cached embeddings changes (backbone code, preprocessing) without a preset change."""

_META = "__meta__"
_SAVEZ_ARGUMENTS = ("file", "allow_pickle")  # np.savez parameters: not usable as array names


def default_embedding_root() -> Path:
    """``$AUDIOLLM_CACHE_DIR/embeddings``, else ``~/.cache/pytest-audiollm/embeddings``."""
    return cache_root() / "embeddings"


def content_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class EmbeddingCache:
    """Per-file embeddings on disk: :meth:`key` names an entry, :meth:`get` reads it, :meth:`put` writes it."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, version: str = CACHE_VERSION) -> None:
        self.root = Path(root).expanduser() if root is not None else default_embedding_root()
        self.version = version

    def key(self, audio_sha256: str, checkpoint_digest: str, preset: str) -> str:
        """The entry name of one audio file embedded by one checkpoint under one preset (64 hex digits)."""
        fields = [self.version, audio_sha256, checkpoint_digest, preset]
        return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives: ``<root>/<key[:2]>/<key[2:4]>/<key>.npz``."""
        if len(key) < 5 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / key[2:4] / f"{key}.npz"

    def get(self, key: str) -> dict[str, NDArray[np.generic]] | None:
        """The arrays stored under ``key``, or None when absent or unreadable (a corrupt file is a miss)."""
        import zipfile

        import numpy as np

        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        meta = arrays.pop(_META, None)
        if meta is None or meta.shape != () or str(meta) != key:
            return None  # not written by put() for this key (a renamed or foreign file)
        return arrays

    def put(self, key: str, arrays: Mapping[str, ArrayLike]) -> Path:
        """Store ``arrays`` (name -> numeric array) under ``key`` atomically and return the file's path."""
        import numpy as np

        payload: dict[str, NDArray[np.generic]] = {}
        for name, value in arrays.items():
            if not name or name.startswith("__") or name in _SAVEZ_ARGUMENTS:
                raise ValueError(f"array names must not be empty, start with '__' or be {_SAVEZ_ARGUMENTS}: {name!r}")
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                raise ValueError(f"array {name!r} has dtype object; only numeric/string arrays can be cached")
            payload[name] = arr
        payload[_META] = np.asarray(key)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **cast("dict[str, Any]", payload))  # names checked above
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path
