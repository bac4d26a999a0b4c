"""Audio loading: decode a sample (file or tar member), only what ``max_seconds`` keeps; mix to mono, resample.

Every failure is a :class:`SampleError` with a one-line message naming the file: it fails only that item.
soundfile and soxr are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from pytest_audiollm.errors import SampleError
from pytest_audiollm.sample import AudioRef

_MAX_OPEN_TARS = 16
# open shards, keyed by (process id, path): a forked worker must not share its parent's file offsets
_tars: dict[tuple[int, str], tarfile.TarFile] = {}
_tars_lock = threading.Lock()
# libsndfile's log line for a WAV whose data chunk is shorter than its header says (a cut-off download)
_WAV_SHORT_DATA = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
_BYTESIO_REPR = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 audio at ``sample_rate``, with what is known about the file it came from."""

    samples: npt.NDArray[np.float32]
    sample_rate: int
    original_sample_rate: int
    channels: int  # of the file
    duration_s: float  # of the file, before truncation
    truncated_s: float  # seconds cut by max_seconds (0.0 if none)
    sha256: str  # hex digest of the encoded file bytes


def load_audio(ref: AudioRef, target_sample_rate: int, max_seconds: float | None = None) -> DecodedAudio:
    """Read and decode ``ref`` (a file, or a member of a tar shard) to mono float32 at the target rate.

    A file is not read into memory: it is hashed in chunks and decoded from disk, and with ``max_seconds`` only
    the frames kept are decoded (a 6-hour FLAC with ``max_seconds: 10`` costs 10 s of samples, not 6 hours).
    """
    if ref.member:
        return decode_audio_bytes(_read_member(ref), ref.describe(), target_sample_rate, max_seconds)
    with open_audio_file(ref.path) as fh:
        try:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
        except OSError as exc:
            raise _unreadable(ref.path, exc) from exc
        return _decode(fh, ref.describe(), digest, target_sample_rate, max_seconds)


def decode_audio_bytes(
    data: bytes, name: str, target_sample_rate: int, max_seconds: float | None = None
) -> DecodedAudio:
    """Decode encoded audio ``data`` (``name`` is used in error messages) to mono float32 at the target rate."""
    return _decode(io.BytesIO(data), name, hashlib.sha256(data).hexdigest(), target_sample_rate, max_seconds)


def _decode(
    source: BinaryIO, name: str, digest: str, target_sample_rate: int, max_seconds: float | None
) -> DecodedAudio:
    """Decode ``source`` (a seekable binary file) to mono float32 at the target rate.

    Truncation to ``max_seconds`` happens at decoding, before mixing and resampling: only the first
    ``ceil(max_seconds * rate)`` frames are read, which gives exactly the array a full decode cut to that many
    frames gives (a file shorter than the cap is read whole). It is recorded in ``truncated_s``.
    """
    if target_sample_rate <= 0:
        raise ValueError(f"target_sample_rate must be positive, got {target_sample_rate}")
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    frames, rate, total = _read_frames(source, name, max_seconds)

    channels, duration_s = int(frames.shape[1]), total / rate
    mono = frames[:, 0] if channels == 1 else frames.mean(axis=1, dtype=np.float32)
    truncated_s = 0.0
    if max_seconds is not None and duration_s > max_seconds:
        mono = mono[: int(np.ceil(max_seconds * rate))]
        truncated_s = duration_s - max_seconds
    if rate != target_sample_rate:
        import soxr

        mono = np.asarray(soxr.resample(mono, rate, target_sample_rate, quality="HQ"), dtype=np.float32)
    if max_seconds is not None:
        mono = mono[: round(max_seconds * target_sample_rate)]
        if mono.size == 0:
            raise SampleError(
                f"{name}: audio.max_seconds = {max_seconds:g} keeps no sample at {target_sample_rate} Hz: "
                "raise it in the benchmark YAML"
            )
    return DecodedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=target_sample_rate,
        original_sample_rate=rate,
        channels=channels,
        duration_s=duration_s,
        truncated_s=truncated_s,
        sha256=digest,
    )


def decode_frames(data: bytes, name: str) -> tuple[npt.NDArray[np.float32], int]:
    """Decode encoded audio to float32 frames ``(samples, channels)`` and its rate, checked.

    Undecodable, truncated (a WAV whose data chunk is shorter than its header says), empty and non-finite audio
    raise :class:`SampleError` naming ``name``.
    """
    frames, rate, _ = _read_frames(io.BytesIO(data), name, None)
    return frames, rate


def _read_frames(source: BinaryIO, name: str, max_seconds: float | None) -> tuple[npt.NDArray[np.float32], int, int]:
    """The checked float32 frames of ``source``, only the first ``ceil(max_seconds * rate)`` with a cap; its rate;
    and its length in frames (the header's, when the cap stopped the reading; else the frames decoded)."""
    import soundfile as sf

    try:
        with sf.SoundFile(source) as f:
            rate, log = int(f.samplerate), str(f.extra_info)
            keep = -1 if max_seconds is None else int(np.ceil(max_seconds * rate))
            frames: npt.NDArray[np.float32] = f.read(frames=keep, dtype="float32", always_2d=True)
            total = max(int(f.frames), frames.shape[0]) if frames.shape[0] == keep else frames.shape[0]
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        message = _BYTESIO_REPR.sub("", str(exc)).replace("\n", " ")
        raise SampleError(
            f"{name}: cannot decode audio ({message}); the file is truncated, corrupt or not a format "
            "libsndfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF): re-export or re-download it"
        ) from exc
    short = _WAV_SHORT_DATA.search(log)
    if short and 0 < int(short.group(2)) < int(short.group(1)) < 0xFFFFFF00:
        raise SampleError(
            f"{name}: audio file is truncated (header says {short.group(1)} data bytes, only "
            f"{short.group(2)} present): re-download or re-export it"
        )
    if frames.shape[0] == 0:
        raise SampleError(f"{name}: audio file is empty (0 samples): replace it or drop the sample")
    if not math.isfinite(float(frames.sum(dtype=np.float64))):  # NaN or inf anywhere makes the sum non-finite
        raise SampleError(f"{name}: audio file contains NaN/inf samples: re-export it with finite values")
    return frames, rate, total


MAX_AUDIO_BYTES_ENV = "AUDIOLLM_MAX_AUDIO_BYTES"
DEFAULT_MAX_AUDIO_BYTES = 2 * 1024**3


def max_audio_bytes() -> int:
    """The largest audio file read (bytes): $AUDIOLLM_MAX_AUDIO_BYTES, else 2 GiB."""
    text = os.environ.get(MAX_AUDIO_BYTES_ENV, "")
    return int(text) if text.strip().isdigit() and int(text) > 0 else DEFAULT_MAX_AUDIO_BYTES


def read_audio_file(path: str) -> bytes:
    """The bytes of an audio file (see :func:`open_audio_file` for what is refused)."""
    with open_audio_file(path) as fh:
        try:
            return fh.read()
        except OSError as exc:
            raise _unreadable(path, exc) from exc


def open_audio_file(path: str) -> io.BufferedReader:
    """An audio file opened for reading: a regular file no larger than :func:`max_audio_bytes` (a device such as
    /dev/zero would be read until memory runs out, a FIFO would block forever)."""
    import stat

    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise SampleError(
            f"audio file not found: {path} (paths in a manifest are relative to the manifest file)"
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise SampleError(f"audio file not found: {path} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise SampleError(f"{path} is not a regular file (a device, FIFO or socket): only audio files are read")
    if info.st_size > max_audio_bytes():
        raise SampleError(
            f"{path} is {info.st_size} bytes, more than the {max_audio_bytes()} bytes audio files may have; raise "
            f"${MAX_AUDIO_BYTES_ENV} if it really is one recording"
        )
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: str, exc: OSError) -> SampleError:
    return SampleError(f"cannot read audio file {path}: {exc.strerror or exc}; check its permissions")


def _read_member(ref: AudioRef) -> bytes:
    """The bytes of member ``ref.member`` of tar shard ``ref.path`` (random access via a cached TarFile)."""
    key = (os.getpid(), ref.path)
    with _tars_lock:
        for inherited in [k for k in _tars if k[0] != key[0]]:  # forked: leave the parent's TarFiles alone
            del _tars[inherited]
        tar = _tars.get(key)
        if tar is None:
            tar = _open_tar(ref.path)
            if len(_tars) >= _MAX_OPEN_TARS:
                _tars.pop(next(iter(_tars))).close()
            _tars[key] = tar
        try:
            fileobj = tar.extractfile(str(ref.member))
            if fileobj is None:
                raise KeyError(ref.member)
            return fileobj.read()
        except KeyError as exc:
            raise SampleError(
                f"{ref.describe()}: tar member not found: {ref.member} in {ref.path} "
                "(the shard changed since it was listed? rebuild or re-download it)"
            ) from exc
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SampleError(
                f"{ref.describe()}: cannot read tar member ({exc}); the shard is truncated or corrupt: "
                "rebuild or re-download it"
            ) from exc


def _open_tar(path: str) -> tarfile.TarFile:
    if not Path(path).is_file():
        raise SampleError(f"webdataset shard not found: {path} (it was listed but has since been removed?)")
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise SampleError(f"{path}: cannot open as a tar shard ({exc}); rebuild or re-download the shard") from exc
