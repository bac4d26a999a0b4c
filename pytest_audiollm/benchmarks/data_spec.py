"""DataSpec: where a benchmark's samples come from (the ``data:`` block of a benchmark YAML)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DATA_FORMATS = ("jsonl", "csv", "webdataset", "folder")
DATA_HOME_ENV = "AUDIOLLM_DATA_HOME"


@dataclass(frozen=True)
class DataSpec:
    """The ``data:`` block: format, path (relative to the YAML file or $AUDIOLLM_DATA_HOME), field names."""

    format: str
    path: str
    base_dir: Path
    source: str = ""  # the YAML file (or registry entry) this came from, for error messages
    # manifest field names: audio (required), reference (str or list), id, prompt
    fields: dict[str, str] = field(default_factory=dict)
    needs_reference: bool = True  # False for generation prompts: the reference is audio, not text

    @property
    def audio_field(self) -> str:
        return self.fields.get("audio", "audio")

    @property
    def reference_field(self) -> str:
        return self.fields.get("reference", "reference")

    @property
    def id_field(self) -> str:
        return self.fields.get("id", "id")

    @property
    def prompt_field(self) -> str:
        return self.fields.get("prompt", "prompt")

    def resolve(self) -> Path:
        """The data path: absolute as written, else relative to the YAML file, else under $AUDIOLLM_DATA_HOME."""
        expanded = Path(os.path.expandvars(os.path.expanduser(self.path)))
        if expanded.is_absolute():
            return expanded
        local = self.base_dir / expanded
        home = os.environ.get(DATA_HOME_ENV)
        if not _exists_or_pattern(local) and home:
            return Path(home) / expanded
        return local


def _exists_or_pattern(path: Path) -> bool:
    text = str(path)
    return path.exists() or any(ch in text for ch in "*?{")
