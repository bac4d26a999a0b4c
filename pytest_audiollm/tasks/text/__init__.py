"""The ``text`` task kind (captioning, asr, classification, qa, species)."""

from __future__ import annotations

from pytest_audiollm.tasks.text.kind import TextKind

__all__ = ["TextKind"]
