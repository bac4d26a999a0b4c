"""A model checkpoint on disk: a local directory or a hub repo read through the Hugging Face cache.

:class:`Checkpoint` answers the questions an adapter asks *before* loading a model, without torch or
transformers and without reading the weights:

- where a small metadata file is (``config.json``, the safetensors index, processor configs): the local
  directory, else the hub (downloaded if needed, through ``huggingface_hub``);
- where the weight files are: the shards named by ``model.safetensors.index.json``, else
  ``model.safetensors``; a weight file is found only if it is already on disk (never downloaded);
- how many bytes the weights take in a given dtype, from the safetensors headers, else the index's
  ``metadata.total_size`` rescaled from the config's dtype;
- the feature extractor's sampling rate, from the processor config files;
- a content fingerprint (config, weight headers and sampled weight bytes, the hub snapshot commit).

Nothing here is specific to one model family: any adapter whose checkpoint is a transformers-style directory
(Qwen2-Audio, Whisper, CLAP, ...) can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import MissingDependency

__all__ = ["DTYPE_BYTES", "Checkpoint"]

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
"""Bytes per element of the dtypes :meth:`Checkpoint.estimate_bytes` accepts (besides ``"auto"``)."""

# safetensors dtype codes -> bytes per element
_ST_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_ST_FLOAT = {"F16", "BF16", "F32", "F64"}
# config "dtype"/"torch_dtype" strings -> bytes per element
_CONFIG_DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "float64": 8}
_INDEX = "model.safetensors.index.json"
_SINGLE = "model.safetensors"
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is treated as unreadable
_FULL_HASH_LIMIT = 64 * 1024 * 1024  # weight files up to this size are hashed whole by fingerprint()
_SAMPLE_CHUNKS = 16
_SAMPLE_CHUNK_BYTES = 64 * 1024


def _read_safetensors_header(path: Path) -> bytes | None:
    """The raw header of a safetensors file: 8-byte little-endian length N, then N bytes of JSON."""
    try:
        with path.open("rb") as fh:
            prefix = fh.read(8)
            if len(prefix) != 8:
                return None
            (size,) = struct.unpack("<Q", prefix)
            if size > _MAX_HEADER:
                return None
            header = fh.read(size)
    except OSError:
        return None
    return prefix + header if len(header) == size else None


def _header_bytes_for(header: bytes, dtype: str) -> int:
    """Bytes the tensors of a safetensors header take once loaded in ``dtype`` (``auto``: as stored).

    Floating-point tensors are cast to ``dtype``; integer/bool (and 8-bit float) tensors keep their size.
    """
    meta: dict[str, Any] = json.loads(header[8:])
    total = 0
    for name, info in meta.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        numel = 1
        for dim in info.get("shape", []):
            numel *= int(dim)
        stored = str(info.get("dtype", "F32"))
        if dtype != "auto" and stored in _ST_FLOAT:
            total += numel * DTYPE_BYTES[dtype]
        else:
            total += numel * _ST_BYTES.get(stored, 4)
    return total


def _weight_sample(path: Path, size: int) -> Iterator[bytes]:
    """A small file whole; of a large one, ``_SAMPLE_CHUNKS`` evenly spaced chunks (about 1 MiB read).

    Headers alone cannot tell two checkpoints of the same architecture apart (same names, shapes, offsets);
    sampled bytes do (fine-tuning changes every tensor) without reading gigabytes.
    """
    with path.open("rb") as fh:
        if size <= _FULL_HASH_LIMIT:
            yield from iter(lambda: fh.read(1 << 20), b"")
            return
        step = size // _SAMPLE_CHUNKS
        for i in range(_SAMPLE_CHUNKS):
            fh.seek(i * step)
            yield fh.read(_SAMPLE_CHUNK_BYTES)


def _read_json(path: Path | None) -> Any:
    """The parsed JSON file, or None when there is no file or it cannot be read or parsed."""
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Checkpoint:
    """A checkpoint named by ``target``: a local directory if one exists there, else a hub repo id.

    ``revision`` (a hub branch, tag or commit) is used for hub repos and ignored for local directories
    (though it still enters the fingerprint). ``needed_for`` and ``extra`` word the
    :class:`~pytest_audiollm.errors.MissingDependency` raised when a hub file is needed and
    ``huggingface_hub`` is not installed (e.g. ``"the hf: model adapter"``, ``"hf"``).
    """

    def __init__(
        self,
        target: str,
        revision: str | None = None,
        *,
        needed_for: str = "reading a hub checkpoint",
        extra: str | None = None,
    ) -> None:
        self.target = target
        self.revision = revision
        self._needed_for = needed_for
        self._extra = extra
        self._local = Path(target).expanduser()
        self.is_local = self._local.is_dir()

    # -- locating files ----------------------------------------------------------------------------------

    def small_file(self, name: str) -> Path | None:
        """A small metadata file (config, index): from the local dir, else the hub (downloaded if needed)."""
        if self.is_local:
            path = self._local / name
            return path if path.is_file() else None
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise MissingDependency("huggingface_hub", self._needed_for, extra=self._extra) from exc
        try:
            return Path(hf_hub_download(self.target, name, revision=self.revision))
        except Exception:  # not in the repo, offline, gated: the caller falls back
            return None

    def weight_file(self, name: str) -> Path | None:
        """A weight file only if it is already on disk (never downloads gigabytes to read a header)."""
        if self.is_local:
            path = self._local / name
            return path if path.is_file() else None
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        found = try_to_load_from_cache(self.target, name, revision=self.revision)
        return Path(found) if isinstance(found, str) else None

    def weight_names(self) -> list[str]:
        """Safetensors weight file names: the shards named by the index, else ``model.safetensors``."""
        index = self.small_file(_INDEX)
        if index is not None:
            try:
                weight_map = json.loads(index.read_text()).get("weight_map", {})
                return sorted(set(weight_map.values()))
            except (OSError, ValueError):
                pass
        return [_SINGLE]

    # -- metadata --------------------------------------------------------------------------------------------

    def sample_rate(self) -> int | None:
        """The feature extractor's sampling rate from the processor config files (no processor built)."""
        for name in ("processor_config.json", "preprocessor_config.json"):
            data = _read_json(self.small_file(name))
            if not isinstance(data, dict):
                continue
            fe = data.get("feature_extractor", data)
            rate = fe.get("sampling_rate") if isinstance(fe, dict) else None
            if isinstance(rate, int) and rate > 0:
                return rate
        return None

    def config_dtype_bytes(self) -> int:
        """Bytes per element of the dtype ``config.json`` (or its ``text_config``) names; 4 when unknown."""
        config = _read_json(self.small_file("config.json"))
        if isinstance(config, dict):
            for source in (config, config.get("text_config") or {}):
                stored = source.get("dtype") or source.get("torch_dtype")
                if isinstance(stored, str) and stored in _CONFIG_DTYPE_BYTES:
                    return _CONFIG_DTYPE_BYTES[stored]
        return 4

    # -- memory ----------------------------------------------------------------------------------------------

    def estimate_bytes(self, dtype: str = "auto") -> int | None:
        """Bytes of the weights once loaded in ``dtype`` (``"auto"``: as stored), without reading them.

        In order: the safetensors headers of the weight files on disk; the index's ``metadata.total_size``
        (rescaled from the config's dtype). None when neither is available: the caller falls back (e.g. to
        counting the parameters of a model built on the ``meta`` device).
        """
        if dtype != "auto" and dtype not in DTYPE_BYTES:
            raise ValueError(f"dtype '{dtype}' is not 'auto' or one of {', '.join(DTYPE_BYTES)}")
        paths = [self.weight_file(name) for name in self.weight_names()]
        if paths and all(p is not None for p in paths):
            raw = [_read_safetensors_header(p) for p in paths if p is not None]
            if all(r is not None for r in raw):
                return sum(_header_bytes_for(r, dtype) for r in raw if r is not None)
        return self._estimate_from_index(dtype)

    def _estimate_from_index(self, dtype: str) -> int | None:
        index = self.small_file(_INDEX)
        if index is None:
            return None
        try:
            total = int(json.loads(index.read_text())["metadata"]["total_size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if dtype == "auto":
            return total
        return total // self.config_dtype_bytes() * DTYPE_BYTES[dtype]

    # -- identity --------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 (hex) over config.json, the weight files' names, sizes, headers (+ samples), revision.

        Headers hold every tensor's name, dtype, shape and byte offsets, so this changes with the architecture
        and the layout but is computed without reading the weights. Weight files up to 64 MiB are hashed
        whole; larger ones contribute 16 evenly spaced 64 KiB samples (about 1 MiB read per file), enough to
        tell two fine-tunes of one architecture apart. For a hub repo the snapshot's commit (from the cache
        path) is included too, which pins the weights exactly. The local directory's path is not included:
        the same checkpoint copied elsewhere has the same fingerprint. Adapters prefix it with their scheme.
        """
        digest = hashlib.sha256()
        digest.update(b"target\0" + (self.target if not self.is_local else "local").encode() + b"\0")
        if self.revision:
            digest.update(b"revision\0" + self.revision.encode() + b"\0")
        config = self.small_file("config.json")
        if config is not None:
            digest.update(b"config.json\0" + config.read_bytes() + b"\0")
            snapshot = config.parent
            if not self.is_local and snapshot.parent.name == "snapshots":
                digest.update(b"commit\0" + snapshot.name.encode() + b"\0")
        for name in self.weight_names():
            path = self.weight_file(name)
            if path is None:
                digest.update(b"weights\0" + name.encode() + b"\0missing\0")
                continue
            size = os.path.getsize(path)
            digest.update(b"weights\0" + name.encode() + b"\0" + str(size).encode() + b"\0")
            header = _read_safetensors_header(path)
            if header is not None:
                digest.update(header)
            for block in _weight_sample(path, size):
                digest.update(block)
        if self.is_local:
            for pattern in ("*.bin", "*.pt", "*.pth"):
                for path in sorted(self._local.glob(pattern)):
                    digest.update(path.name.encode() + b"\0" + str(path.stat().st_size).encode() + b"\0")
        return digest.hexdigest()
