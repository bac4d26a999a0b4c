"""Sample: one benchmark item. Audio stays on disk until a model needs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AudioRef:
    """Where a sample's audio lives: a file path, or a member of a tar shard (webdataset)."""

    path: str
    member: str | None = None  # set for webdataset shards: the tar member holding the audio bytes

    def describe(self) -> str:
        return f"{self.path}:{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Sample:
    """One benchmark sample: an id unique within its benchmark, the audio, the reference answer(s)."""

    id: str
    audio: AudioRef | None
    references: tuple[str, ...]
    benchmark: str = ""
    prompt: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    error: str | None = None  # a manifest problem found while listing: the sample's item fails with it
    source_id: str | None = None  # the id as the data wrote it, when ``id`` had to be made test-id safe
