"""RunJournal: under pytest-xdist, every sample record of a run also goes to a file the controller provides.

A worker that crashes (a segfault in native code, the OOM killer) takes the records in its memory with it, and
the rest of its run goes on in another process: that process's gate would aggregate only the samples it ran
itself. With the journal, a gate reads the records the run's earlier processes wrote (and the record the
controller wrote for the sample that crashed), so its value covers every sample of the run. Each record is one
JSON line, appended with one ``write`` on a file opened in append mode, so a process dying mid-run leaves whole
lines; a line cut short (the process died inside the call) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_audiollm.records import SampleRecord

if TYPE_CHECKING:
    import pytest

    from pytest_audiollm.tasks.cases import RunKey

__all__ = ["JOURNAL_INPUT", "RunJournal", "journal_of"]

JOURNAL_INPUT = "audiollm_journal"  # the key of the journal folder in an xdist worker's workerinput


class RunJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: RunKey) -> Path:
        return self.folder / f"{hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:32]}.jsonl"

    def append(self, record: SampleRecord) -> None:
        line = (json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self._path(record.run_key), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def records(self, key: RunKey) -> list[SampleRecord]:
        """The records of run ``key`` written by every process so far (the last one of an id wins)."""
        try:
            raw = self._path(key).read_bytes()
        except FileNotFoundError:
            return []
        found: dict[str, SampleRecord] = {}
        for line in raw.splitlines():
            try:
                record = SampleRecord.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # a line a dying process cut short
            found[record.id] = record
        return list(found.values())


def journal_of(config: pytest.Config) -> RunJournal | None:
    """The journal of this xdist worker (None in a single process, or when the controller gave none)."""
    workerinput = getattr(config, "workerinput", None)
    folder = workerinput.get(JOURNAL_INPUT) if isinstance(workerinput, dict) else None
    return RunJournal(Path(folder)) if isinstance(folder, str) else None
