"""DataSpec: where a benchmark's samples come from (the ``data:`` block of a benchmark YAML)."""

from __future__ import annotations

import glob
import os
import re
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
        """The data path: absolute as written, else relative to the YAML file, else under $AUDIOLLM_DATA_HOME.

        A brace or glob pattern (``shards/part-{000..009}.tar``, ``shards/*.tar``) is resolved the same way: next
        to the YAML file when it matches something there, else under $AUDIOLLM_DATA_HOME when it matches there.
        """
        expanded = Path(os.path.expandvars(os.path.expanduser(self.path)))
        if expanded.is_absolute():
            return expanded
        local = self.base_dir / expanded
        home = os.environ.get(DATA_HOME_ENV)
        if home and not _matches(local) and _matches(Path(home) / expanded):
            return Path(home) / expanded
        return local


_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def expand_braces(pattern: str) -> list[str]:
    """Every string a brace pattern stands for, in order: ``a{0..2}`` -> a0, a1, a2 (zero padding kept:
    ``{000..002}`` -> 000, 001, 002); ``{x,y}`` -> x, y; nested and repeated braces expand left to right."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[end], 0)
        if depth == 0:
            break
    else:
        return [pattern]  # an unclosed brace is literal
    body, head, tail = pattern[start + 1 : end], pattern[:start], pattern[end + 1 :]
    match = _RANGE.match(body)
    if match:
        first, last = int(match[1]), int(match[2])
        padded = any(len(m.lstrip("-")) > 1 and m.lstrip("-").startswith("0") for m in (match[1], match[2]))
        width = max(len(match[1]), len(match[2])) if padded else 0
        step = 1 if last >= first else -1
        options = [str(n).zfill(width) for n in range(first, last + step, step)]
    else:
        options, depth, part = [], 0, ""
        for ch in body:
            if ch == "," and depth == 0:
                options.append(part)
                part = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            part += ch
        options.append(part)
        if len(options) == 1:
            return [head + "{" + body + "}" + t for t in expand_braces(tail)]  # "{x}" alone is literal
    return [head + o + t for option in options for o in expand_braces(option) for t in expand_braces(tail)]


def _matches(path: Path) -> bool:
    """Whether ``path`` exists, or (a brace / glob pattern) any of what it stands for exists."""
    text = str(path)
    if not any(ch in text for ch in "*?[{"):
        return path.exists()
    return any(glob.glob(part) if any(ch in part for ch in "*?[") else Path(part).exists()
               for part in expand_braces(text))  # fmt: skip
