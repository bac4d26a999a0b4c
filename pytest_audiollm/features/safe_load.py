"""Safe loading of checkpoint tensors: ``torch.load(weights_only=True)`` with a fixed NumPy allowlist.

The PANNs CNN14 files are ``{"model": state_dict, "iteration": int, "sampler": {...}}``; the sampler state holds
NumPy integer arrays pickled by NumPy 1.x, which ``weights_only=True`` (torch's default since 2.6) refuses unless
the NumPy array/dtype globals are allowlisted -- the reason audioldm_eval's plain ``torch.load`` broke. Here only
those plain-data NumPy globals are admitted (object arrays and every other global stay refused) and the inner
state dict is returned; a file is never loaded with ``weights_only=False``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError

if TYPE_CHECKING:
    import os

    import torch

__all__ = ["CheckpointError", "load_state_dict"]


class CheckpointError(AudioLLMError):
    """A checkpoint file cannot be read safely (corrupt, not a torch file, or needs unsafe pickle globals)."""


def _numpy_safe_globals() -> list[Any]:
    """The NumPy globals a weights-only load may use: plain-data arrays, dtypes and scalars, nothing else.

    The PANNs checkpoints store a training-sampler state (integer arrays) pickled by NumPy 1.x, under the
    names ``numpy.core.multiarray._reconstruct``/``scalar``; NumPy 2 moved those functions to ``numpy._core``,
    so both names are admitted. Object arrays stay refused (their dtype class is not in the list).
    """
    import numpy as np

    numpy2 = int(np.__version__.split(".")[0]) >= 2
    multiarray = importlib.import_module("numpy._core.multiarray" if numpy2 else "numpy.core.multiarray")
    safe: list[Any] = [np.ndarray, np.dtype]
    for fn_name in ("_reconstruct", "scalar"):
        fn = getattr(multiarray, fn_name)
        safe += [fn, (fn, f"numpy.core.multiarray.{fn_name}"), (fn, f"numpy._core.multiarray.{fn_name}")]
    safe += sorted({type(np.dtype(code)) for code in "?bhilqBHILQefdFD"}, key=lambda t: t.__name__)
    return safe


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, loaded with ``torch.load(path, map_location="cpu", weights_only=True)``.

    A PANNs file (``{"model": state_dict, "iteration": ..., "sampler": ...}``) or a ``{"state_dict": ...}``
    wrapper gives its inner state dict; a plain state dict (torchvggish) is returned as is. The NumPy arrays
    of a PANNs sampler state are admitted through :func:`_numpy_safe_globals`; a file that needs any other
    non-tensor global raises :class:`CheckpointError` naming them (it is never loaded with
    ``weights_only=False``).
    """
    import pickle

    import torch

    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {file} does not exist (or is not a file)")
    if not _looks_like_torch_file(file):
        raise CheckpointError(
            f"{file} is not a torch checkpoint (neither a zip archive nor a pickle): a truncated download or an "
            "error page? Delete it and fetch it again (python -m pytest_audiollm download NAME)."
        )
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{file} cannot be loaded safely: torch.load(weights_only=True) refuses it ({_refusal(exc, file)}). "
            "pytest-audiollm never unpickles arbitrary objects (weights_only=False); use the official checkpoint, "
            "or re-save just its tensors with torch.save(state_dict, path)."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{file} is not a readable torch checkpoint (truncated or corrupt?): {exc}. Delete it and fetch it "
            "again (python -m pytest_audiollm download NAME)."
        ) from None
    if isinstance(obj, Mapping):
        for wrapper in ("model", "state_dict"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{file} does not hold a state dict (got {type(obj).__name__})")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{file} is not a state dict of tensors: entries {', '.join(bad[:5])} are not tensors")
    return dict(obj)


def _looks_like_torch_file(file: Path) -> bool:
    """A zip archive (torch >= 1.6 format) or a pickle stream (the legacy format starts with a pickled magic)."""
    import zipfile

    with file.open("rb") as fh:
        head = fh.read(2)
    return head[:1] == b"\x80" or zipfile.is_zipfile(file)


def _refusal(exc: Exception, file: Path) -> str:
    """The reason torch gives for refusing a weights-only load, plus the globals still missing from the allowlist."""
    import torch

    text = str(exc)
    marker = "WeightsUnpickler error:"
    reason = text.split(marker, 1)[1] if marker in text else text
    reason = " ".join(reason.split("Check the documentation", 1)[0].split())
    try:
        allowed = {f"{g.__module__}.{g.__qualname__}" for g in _numpy_safe_globals() if not isinstance(g, tuple)}
        allowed |= {g[1] for g in _numpy_safe_globals() if isinstance(g, tuple)}
        missing = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(file) if n not in allowed]
    except Exception:  # the legacy (non-zip) format cannot be scanned; torch's reason names the global
        missing = []
    return f"{reason}; globals not allowed: {', '.join(missing)}" if missing else reason
