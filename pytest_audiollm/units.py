"""Units the user types and reads: memory sizes (``24GiB``, ``2GB``, ``512MiB``)."""

from __future__ import annotations

import argparse
import re

__all__ = ["format_size", "parse_size"]

_SIZE = re.compile(r"^\s*(?P<num>[0-9]*\.?[0-9]+)\s*(?P<unit>[KMGT]?i?B?|)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}


def parse_size(text: str) -> int:
    """``24GiB`` / ``2G`` (binary), ``2GB`` (decimal), ``512MiB``, ``1073741824`` -> bytes."""
    match = _SIZE.match(str(text))
    unit = match["unit"].lower() if match else None
    if not match or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"cannot read memory size {text!r}: use a number with a unit such as 24GiB, 2G (binary), "
            "2GB (decimal) or 512MiB"
        )
    return int(float(match["num"]) * _UNITS[unit])


def format_size(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} TiB"
