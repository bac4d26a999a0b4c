"""Stand-in for SALMONN's models package."""

from __future__ import annotations

from .salmonn import SALMONN

__all__ = ["SALMONN"]
