"""SampleRecord: what one sample item leaves behind, whatever the task kind and whatever happened.

A task kind returns one for every sample item it runs; the core turns it into the item's outcome, its JUnit
properties and its row in the results file (``runs[].samples[]``). It travels from an xdist worker to the
controller as ``to_json()`` on the item's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

JSON = Any  # a value json.dumps accepts
ErrorKind = Literal["data", "model", "output", "setup"]
Status = Literal["passed", "failed", "skipped"]
Output = Literal["text", "audio", "embedding"]

ERROR_KINDS: tuple[str, ...] = ("data", "model", "output", "setup")
# the keys of a sample in the results file, in the order they are written
RESULT_KEYS = (
    "id", "prediction", "references", "scores", "stats", "error", "error_kind", "latency_s", "audio", "generated",
    "notes",
)  # fmt: skip


@dataclass
class SampleRecord:
    """One sample of one run: its prediction (or generated file), scores, per-sample statistics, error.

    ``error_kind`` says whose fault an error is: ``data`` (the sample: unreadable audio, bad manifest line),
    ``model`` (the model raised), ``output`` (the model broke the protocol), ``setup`` (the model could not be
    loaded: the sample did not run). ``status`` and ``message`` are the item's outcome as the task kind decided
    it; they are not written to the results file.
    """

    id: str
    model: str
    benchmark: str
    owner: str
    kind: str = ""  # the task kind that ran it
    task: str = ""
    version: str = ""  # the benchmark's version
    index: int = 0
    nodeid: str = ""
    output: Output = "text"
    prompt: str | None = None
    prediction: str | None = None
    references: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    stats: dict[str, list[float]] = field(default_factory=dict)
    score_errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_kind: ErrorKind | None = None
    latency_s: float = 0.0
    audio: dict[str, JSON] = field(default_factory=dict)
    audio_path: str | None = None
    audio_member: str | None = None
    generated: dict[str, JSON] | None = None
    notes: dict[str, str] | None = None
    reference_path: str | None = None
    source_id: str | None = None  # the id as the data wrote it, when ``id`` had to be made test-id safe
    status: Status = "passed"
    message: str = ""
    subject_stats: dict[str, JSON] | None = None  # the subject's SubjectStats after this item (timing, memory)

    @property
    def run_key(self) -> tuple[str, str, str]:
        return (self.owner, self.model, self.benchmark)

    @property
    def failed(self) -> bool:
        return self.error_kind in ("data", "model", "output")

    def to_json(self) -> dict[str, JSON]:
        """Every field (what travels from a worker to the controller)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def result(self) -> dict[str, JSON]:
        """The sample as the results file stores it (``runs[].samples[]``)."""
        out = {key: getattr(self, key) for key in RESULT_KEYS}
        if self.source_id is not None:
            out["source_id"] = self.source_id
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> SampleRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
