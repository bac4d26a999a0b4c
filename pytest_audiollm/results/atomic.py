"""Writing output files whole or not at all: a unique temporary file in the target's folder, then a rename.

A reader (or a second run writing the same path) sees the old file or the new one, never a mix; a failed write
(disk full, permissions) leaves the old file in place and no temporary file behind, and raises
:class:`OutputError` with a one-line message.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pytest_audiollm.errors import AudioLLMError

__all__ = ["OutputError", "incomplete_path", "temporary_sibling", "write_atomic"]


class OutputError(AudioLLMError):
    """An output file could not be written; the previous file (if any) is untouched."""


def temporary_sibling(target: Path) -> Path:
    """A new, unique, empty file next to ``target`` (same filesystem, so the final rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    return Path(name)


def write_atomic(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` (UTF-8) atomically."""
    tmp: Path | None = None
    try:
        tmp = temporary_sibling(target)
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise OutputError(
            f"could not write {target}: {exc.strerror or exc} (the previous file, if any, is unchanged)"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def incomplete_path(target: Path) -> Path:
    """Where an interrupted session puts what it would have written to ``target``: ``NAME.incomplete.EXT``."""
    return target.with_name(f"{target.stem}.incomplete{target.suffix}")
