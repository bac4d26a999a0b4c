"""Checkpoints of the embedding backbones (PANNs CNN14 at 16/32 kHz, VGGish): find, download, verify, load.

- :data:`CHECKPOINTS` names every known checkpoint with its official URL, file name and SHA-256.
- :func:`resolve_checkpoint` finds one on disk: an explicit path, else the checkpoint's environment variable
  (``AUDIOLLM_CNN14_16K_CHECKPOINT``, ...), else the cache directory (:func:`checkpoint_dir`). A missing file
  raises :class:`MissingCheckpoint` (a :class:`~pytest_audiollm.errors.MissingDependency`, so the items that
  need it are skipped) whose message gives the exact command that fetches it.
- :func:`download_checkpoint` streams a checkpoint into the cache (temporary file, hash check, atomic rename);
  ``python -m pytest_audiollm download NAME`` calls it.
- :func:`load_state_dict` (from :mod:`pytest_audiollm.features.safe_load`) reads a checkpoint with
  ``torch.load(weights_only=True)``.
- :func:`checkpoint_digest` is the SHA-256 of a file, computed once per process per (path, size, mtime).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.features.safe_load import CheckpointError, load_state_dict

__all__ = [
    "CHECKPOINTS",
    "CheckpointError",
    "CheckpointMismatch",
    "CheckpointSpec",
    "DownloadError",
    "MissingCheckpoint",
    "cache_root",
    "checkpoint_digest",
    "checkpoint_dir",
    "checkpoint_spec",
    "download_checkpoint",
    "file_name_problem",
    "load_state_dict",
    "resolve_checkpoint",
]

CACHE_ENV = "AUDIOLLM_CACHE_DIR"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CheckpointSpec:
    """One checkpoint file: where it comes from and what its bytes must hash to.

    ``sha256`` is always checked; ``md5`` and ``size`` (the publisher's values, where known) are checked
    as well when the file is downloaded. ``mirrors`` are tried, in order, only when ``url`` cannot be
    reached (never after a hash mismatch).
    """

    name: str
    description: str
    filename: str
    url: str
    sha256: str
    env_var: str
    md5: str | None = None
    size: int | None = None
    mirrors: tuple[str, ...] = ()


# Provenance of the digests (no network here, so none was computed by us; each was cross-checked):
# - Cnn14_16k_mAP=0.438.pth: MD5 362fc5ff... is the one Zenodo publishes for record 3987831 (copied by many
#   projects); SHA-256 e2ee543a... and 358,668,570 bytes are pinned by several independent projects that
#   verified their copy against that MD5.
# - Cnn14_mAP=0.431.pth: MD5 541141fa... is Zenodo's for record 3987831 (e.g. Labbeti/dcase2022task6a); the
#   SHA-256 0dc499e4... and 327,428,481 bytes are pinned by several projects for the copy in that record.
#   audioldm_eval downloads it from the first version of the record, 3576403, which is the URL used here;
#   Zenodo carries an unchanged file over to a new version, so both copies are expected to be the same bytes
#   (not verified offline: if 3576403 ever served different bytes, the download fails with both digests).
# - vggish-10086976.pth: torch.hub's ``check_hash`` convention makes "10086976" the first 8 hex digits of
#   the SHA-256; the full SHA-256 10086976245803... (which starts with them) is pinned by several projects.
_SPECS = (
    CheckpointSpec(
        name="cnn14-16k",
        description="PANNs CNN14 16 kHz (AudioSet mAP 0.438)",
        filename="Cnn14_16k_mAP=0.438.pth",
        url="https://zenodo.org/records/3987831/files/Cnn14_16k_mAP%3D0.438.pth?download=1",
        sha256="e2ee543a27919542c2ea03eabaa70b24dcd4e6c8e05621de6b67a94e4c5058e6",
        md5="362fc5ff18f1d6ad2f6d464b45893f2c",
        size=358_668_570,
        env_var="AUDIOLLM_CNN14_16K_CHECKPOINT",
    ),
    CheckpointSpec(
        name="cnn14-32k",
        description="PANNs CNN14 32 kHz (AudioSet mAP 0.431)",
        filename="Cnn14_mAP=0.431.pth",
        url="https://zenodo.org/records/3576403/files/Cnn14_mAP%3D0.431.pth?download=1",
        mirrors=("https://zenodo.org/records/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",),
        sha256="0dc499e40e9761ef5ea061ffc77697697f277f6a960894903df3ada000e34b31",
        md5="541141fa2ee191a88f24a3219fff024e",
        size=327_428_481,
        env_var="AUDIOLLM_CNN14_32K_CHECKPOINT",
    ),
    CheckpointSpec(
        name="vggish",
        description="VGGish (torchvggish port of the AudioSet VGGish)",
        filename="vggish-10086976.pth",
        url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
        sha256="10086976245803799d9194e9a73d9b6c1549c71d1b80106f5cade5608a561f4b",
        env_var="AUDIOLLM_VGGISH_CHECKPOINT",
    ),
)

CHECKPOINTS: Mapping[str, CheckpointSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
"""The known checkpoints by name (read-only)."""


class MissingCheckpoint(MissingDependency):
    """A backbone checkpoint is not on disk: the items that need it are skipped with the command that fetches it."""

    def __init__(self, spec: CheckpointSpec, reason: str, needed_for: str | None = None) -> None:
        self.spec = spec
        self.package = spec.filename
        self.needed_for = needed_for or spec.description
        self.install = f"python -m pytest_audiollm download {spec.name}"
        purpose = f" (needed for {needed_for})" if needed_for else ""
        AudioLLMError.__init__(
            self,
            f"the {spec.description} checkpoint {spec.filename}{purpose} was not found: {reason}. "
            f"Fetch it with `{self.install}` (it is saved in {checkpoint_dir()}), or download {spec.url} yourself "
            f"and set {spec.env_var}=/path/to/{spec.filename}.",
        )


class CheckpointMismatch(AudioLLMError):
    """A checkpoint's bytes are not the ones expected (wrong, truncated or tampered file)."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class DownloadError(AudioLLMError):
    """A checkpoint could not be downloaded (HTTP error, no connection, timeout, truncated transfer)."""


def cache_root() -> Path:
    """The pytest-audiollm cache: ``$AUDIOLLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-audiollm``, else
    ``~/.cache/pytest-audiollm``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pytest-audiollm"


def checkpoint_dir() -> Path:
    """Where downloaded checkpoints live: ``<cache_root()>/checkpoints``."""
    return cache_root() / "checkpoints"


def checkpoint_spec(name: str) -> CheckpointSpec:
    """The registry entry of ``name``; an unknown name raises an error listing the known ones."""
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise AudioLLMError(f"unknown checkpoint {name!r}; known checkpoints: {', '.join(CHECKPOINTS)}") from None


def resolve_checkpoint(
    name: str | CheckpointSpec,
    path: str | os.PathLike[str] | None = None,
    *,
    needed_for: str | None = None,
    verify: bool = True,
) -> Path:
    """The file of checkpoint ``name``: ``path`` if given, else ``$<env_var>``, else the cache directory.

    ``path`` and the variable may name the file or a directory holding ``spec.filename``. Raises
    :class:`MissingCheckpoint` when nothing is there. With ``verify`` (default) the file's SHA-256 must be the
    registry's, else :class:`CheckpointMismatch`; ``verify=False`` accepts any file (e.g. a fine-tuned
    checkpoint), whose :func:`checkpoint_digest` then identifies it in results.
    """
    spec = checkpoint_spec(name) if isinstance(name, str) else name
    env_value = os.environ.get(spec.env_var)
    if path is not None:
        candidate, origin = _file_in(Path(path).expanduser(), spec), "the path given"
    elif env_value:
        candidate, origin = _file_in(Path(env_value).expanduser(), spec), f"${spec.env_var}"
    else:
        candidate, origin = checkpoint_dir() / spec.filename, "the cache"
    if not candidate.is_file():
        if origin == "the cache":
            reason = f"{spec.env_var} is not set and the cache has no {candidate}"
        else:
            reason = f"{origin} points to {candidate}, which is not a file"
        raise MissingCheckpoint(spec, reason, needed_for)
    if verify:
        actual = checkpoint_digest(candidate)
        if actual != spec.sha256:
            raise CheckpointMismatch(
                f"{candidate} ({origin}) is not the official {spec.filename}: its SHA-256 is {actual}, expected "
                f"{spec.sha256}. Delete it and run `python -m pytest_audiollm download {spec.name}`, or point "
                f"{spec.env_var} at the official file.",
                expected=spec.sha256,
                actual=actual,
            )
    return candidate


def _file_in(path: Path, spec: CheckpointSpec) -> Path:
    return path / spec.filename if path.is_dir() else path


_digest_lock = threading.Lock()
_digests: dict[tuple[str, int, int], str] = {}


def checkpoint_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file, hashed once per process for a given (resolved path, size, mtime)."""
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        cached = _digests.get(key)
    if cached is not None:
        return cached
    with resolved.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    with _digest_lock:
        _digests[key] = digest
    return digest


def download_checkpoint(
    name: str | CheckpointSpec,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download checkpoint ``name`` into ``cache_dir`` (default :func:`checkpoint_dir`) and return its path.

    A file already there with the right SHA-256 is kept. Otherwise the bytes are streamed from ``url``
    (default: the registry URL, then its mirrors if it cannot be reached) into a temporary file in the same
    directory, their SHA-256 (and the publisher's MD5 and size, where known) are checked, and the file is
    renamed into place atomically; on any failure the temporary file is removed. ``timeout`` is per socket
    operation (seconds). Raises :class:`DownloadError` or :class:`CheckpointMismatch`.
    """
    spec = checkpoint_spec(name) if isinstance(name, str) else name
    directory = Path(cache_dir).expanduser() if cache_dir is not None else checkpoint_dir()
    file_name_problem(spec.filename, f"the file name of checkpoint {spec.name!r}", str(directory))
    target = directory / spec.filename
    if target.is_file() and checkpoint_digest(target) == spec.sha256:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    urls = [url] if url is not None else [spec.url, *spec.mirrors]
    failures: list[str] = []
    for source in urls:
        try:
            _fetch_verified(spec, source, target, timeout)
            return target
        except DownloadError as exc:
            failures.append(str(exc))
    raise DownloadError(
        " ".join(failures) + f" Fetch {spec.filename} by other means and set {spec.env_var}=/path/to/{spec.filename}."
    )


def file_name_problem(name: str, what: str, directory: str) -> None:
    """Raise :class:`DownloadError` unless ``name`` is a plain file name, one that cannot land outside
    ``directory``: no ``/`` or ``\\``, not ``.``, ``..`` or empty, no control characters, at most 255 bytes.
    Nothing is sanitised: a name that needs changing is a name the user should see."""
    if name in ("", ".", ".."):
        reason = "it names no file" if not name else "it names a folder"
    elif "/" in name or "\\" in name:
        reason = "it holds a path separator (a folder part, or an absolute path)"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        reason = "it holds control characters"
    elif len(name.encode("utf-8", "surrogateescape")) > 255:
        reason = "it is longer than the 255 bytes a file name may have"
    else:
        return
    raise DownloadError(
        f"{what} is {name!r}, which is not a plain file name: {reason}, so it could be written outside "
        f"{directory}. Nothing was downloaded. Use a URL whose last path segment is the file's name (a "
        "Content-Disposition header is never used), or fetch the file by other means."
    )


def _fetch_verified(spec: CheckpointSpec, url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "pytest-audiollm"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    sha, md5, received = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    announced = response.headers.get("Content-Length")
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        sha.update(chunk)
                        md5.update(chunk)
                        received += len(chunk)
            except urllib.error.HTTPError as exc:
                raise DownloadError(
                    f"downloading {spec.filename} from {url} failed: HTTP {exc.code} {exc.reason}."
                ) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                raise DownloadError(f"downloading {spec.filename} from {url} failed: {reason}.") from None
            if announced is not None and announced.isdigit() and int(announced) != received:
                raise DownloadError(
                    f"downloading {spec.filename} from {url} was cut off: {received} of {announced} bytes received."
                )
            out.flush()
            os.fsync(out.fileno())
        actual = sha.hexdigest()
        problems = []
        if actual != spec.sha256:
            problems.append(f"SHA-256 {actual}, expected {spec.sha256}")
        if spec.md5 is not None and md5.hexdigest() != spec.md5:
            problems.append(f"MD5 {md5.hexdigest()}, expected {spec.md5}")
        if spec.size is not None and received != spec.size:
            problems.append(f"{received} bytes, expected {spec.size}")
        if problems:
            raise CheckpointMismatch(
                f"the file downloaded from {url} is not {spec.filename}: {'; '.join(problems)}. It was deleted; "
                "nothing was saved. Check the URL (a proxy or an error page?) and try again.",
                expected=spec.sha256,
                actual=actual,
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a shared cache should stay readable
        os.replace(tmp, target)
        st = target.stat()
        with _digest_lock:
            _digests[(str(target.resolve()), st.st_size, st.st_mtime_ns)] = actual
    finally:
        tmp.unlink(missing_ok=True)
