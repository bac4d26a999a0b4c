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
    allow_outside: bool = False  # audio paths may leave the manifest's folder and the data home

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

    def containment(self, folder: Path) -> Containment:
        """What keeps this data's audio paths inside ``folder`` (the manifest's, or a ``folder`` dataset's own)
        and $AUDIOLLM_DATA_HOME, unless ``allow_outside: true``."""
        home = os.environ.get(DATA_HOME_ENV)
        return Containment(folder, Path(home).expanduser() if home else None, self.allow_outside)


class Containment:
    """Checks that audio paths resolve, symlinks followed, inside the allowed folders.

    A manifest is data, often downloaded: ``../../home/me/private.wav`` or ``/etc/...`` in it must not make the
    plugin read (and, with ``openai:`` models, upload) files the benchmark's author never meant to. Paths are
    compared after ``realpath``, so a symlink inside the folder that points outside counts as outside. The
    folders a path's directory resolves to are cached: a manifest's paths share a few directories.
    """

    def __init__(self, folder: Path, home: Path | None, allow_outside: bool = False) -> None:
        self.folder, self.home, self.allow_outside = folder, home, allow_outside
        self.roots = tuple(Path(os.path.realpath(p)) for p in (folder, home) if p is not None)
        self._dirs: dict[str, str] = {}

    def _realpath(self, path: str) -> str:
        head, tail = os.path.split(path)
        if tail in ("", ".", "..") or not head:
            return os.path.realpath(path)
        real_head = self._dirs.get(head)
        if real_head is None:
            real_head = self._dirs[head] = os.path.realpath(head)
        joined = os.path.join(real_head, tail)
        return os.path.realpath(joined) if os.path.islink(joined) else joined

    def problem(self, path: str) -> str | None:
        """None when ``path`` is inside an allowed folder (or anywhere, with allow_outside), else the message that
        fails its sample."""
        if self.allow_outside:
            return None
        full = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)  # no normpath: "link/.." is physical
        real = Path(self._realpath(full))
        if any(real.is_relative_to(root) for root in self.roots):
            return None
        resolved = f", which resolves to {real}," if str(real) != full else ""
        home = f"${DATA_HOME_ENV} ({self.home})" if self.home is not None else f"${DATA_HOME_ENV} (not set)"
        return (
            f"audio path {path}{resolved} is outside the folders audio may come from: {self.folder} and {home}. "
            "A manifest's paths (and a data folder's symlinks) must stay inside them, so that a downloaded "
            "manifest cannot make the benchmark read, or send to a model's server, any file on this machine. "
            "Move the audio there, or, if you trust this data, set allow_outside: true in the benchmark's data: block."
        )


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
