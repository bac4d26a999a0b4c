"""The ``generation`` task kind (generated audio against references: the FAD family)."""

from __future__ import annotations

from pytest_audiollm.tasks.generation.kind import GenerationKind

__all__ = ["GenerationKind"]
