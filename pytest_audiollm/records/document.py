"""The results document (``--audiollm-results``, ``--audiollm-save-baseline``): reading, checking, picking runs.

Pure functions over files written by any version of results schema 1; what a document holds is described by
``results.schema.json`` next to this module (see :mod:`pytest_audiollm.records.schema`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.records.run import RunRecord

SCHEMA = 1
JSON = Any


@dataclass
class ResultsDocument:
    """A whole results file: the manifest of the environment, whether the session finished, the runs."""

    manifest: dict[str, JSON]
    runs: list[RunRecord]
    complete: bool = True  # False: the session was interrupted (Ctrl-C, -x, a crash): some items did not run
    schema: int = SCHEMA
    path: str = ""  # where it was read from (not written)

    def to_json(self) -> dict[str, JSON]:
        return {
            "schema": self.schema,
            "complete": self.complete,
            "manifest": self.manifest,
            "runs": [run.to_json() for run in self.runs],
        }


def read_results(path: str | Path) -> ResultsDocument:
    """The results document at ``path``, checked to be a schema-1 pytest-audiollm results file."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AudioLLMError(
            f"results file {str(target)!r} does not exist: pass the path of a JSON file written by "
            f"pytest --audiollm-results FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AudioLLMError(f"cannot read results file {str(target)!r}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AudioLLMError(
            f"{str(target)!r} is not a results file: it is not valid JSON ({exc}); pass a file written by "
            f"pytest --audiollm-results FILE"
        ) from None
    check_document(document, str(target))
    return ResultsDocument(
        manifest=dict(document.get("manifest") or {}),
        runs=[RunRecord.from_json(run) for run in document["runs"]],
        complete=document.get("complete", True) is not False,
        schema=int(document["schema"]),
        path=str(target),
    )


def read_baseline(path: str | Path) -> ResultsDocument:
    """:func:`read_results`, refusing a document whose session did not finish (it would hide regressions)."""
    document = read_results(path)
    if not document.complete:
        raise AudioLLMError(
            f'{str(path)!r} comes from an interrupted session ("complete": false: Ctrl-C, -x or a crash stopped '
            f"it before every item ran), so it cannot serve as a baseline: run the baseline session to the end "
            f"and save it again with --audiollm-save-baseline"
        )
    return document


def check_document(document: JSON, name: str) -> None:
    """Raise AudioLLMError unless ``document`` has the shape of a schema-1 results file."""
    if not isinstance(document, dict) or "schema" not in document or "runs" not in document:
        raise AudioLLMError(
            f"{name!r} is not a pytest-audiollm results file (no 'schema' and 'runs' keys): pass a file "
            f"written by pytest --audiollm-results FILE"
        )
    if document["schema"] != SCHEMA:
        raise AudioLLMError(
            f"{name!r} has results schema {document['schema']!r}, but this pytest-audiollm reads schema "
            f"{SCHEMA}: write it again with this version (pytest --audiollm-results FILE)"
        )
    runs = document["runs"]
    required = ("model", "benchmark", "metrics", "samples")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and all(k in r for k in required) for r in runs):
        raise AudioLLMError(
            f"{name!r} is not a valid schema-1 results file: every entry of 'runs' must be an object "
            f"with {', '.join(required)}; write it again with pytest --audiollm-results FILE"
        )
    for run in runs:
        if not isinstance(run["samples"], list) or not all(isinstance(s, dict) and "id" in s for s in run["samples"]):
            raise AudioLLMError(
                f"{name!r} is not a valid schema-1 results file: the samples of run "
                f"{run['model']} / {run['benchmark']} must be objects with an 'id'"
            )


def select_run(document: ResultsDocument, benchmark: str, model: str) -> RunRecord | None:
    """The baseline run for ``(benchmark, model)`` in a results document, or None when it has no such benchmark.

    The run of the same model is preferred; otherwise the only run of that benchmark is taken. Several runs of
    the benchmark, none (or more than one) of them of ``model``, raise :class:`AudioLLMError`.
    """
    candidates = [r for r in document.runs if r.benchmark == benchmark]
    if not candidates:
        return None
    same = [r for r in candidates if r.model == model]
    if len(same) == 1:
        return same[0]
    if len(candidates) == 1:
        return candidates[0]
    models = ", ".join(sorted(r.model for r in candidates))
    raise AudioLLMError(
        f"the baseline has {len(candidates)} runs of benchmark {benchmark!r} (models: {models}) and "
        f"{'several' if same else 'none'} of them of model {model!r}, so which one to compare with is "
        f"ambiguous: pass a baseline results file with one run per benchmark, or one run of {model!r}"
    )


@dataclass(frozen=True)
class RunIdentity:
    """What must be equal for two runs' numbers to measure the same thing (empty fields are not checked)."""

    benchmark: str
    benchmark_version: str = ""
    data_checksum: str = ""
    scoring: Mapping[str, JSON] = field(default_factory=dict)
    scorers: Mapping[str, str] = field(default_factory=dict)
    metric_versions: Mapping[str, str] = field(default_factory=dict)  # only the metrics named here are checked

    @classmethod
    def of(cls, run: RunRecord, metrics: tuple[str, ...] | None = None) -> RunIdentity:
        names = tuple(run.metrics) if metrics is None else metrics
        return cls(
            benchmark=run.benchmark,
            benchmark_version=run.benchmark_version,
            data_checksum=run.data_checksum,
            scoring=run.scoring,
            scorers=run.scorers,
            metric_versions={n: run.metrics[n].version for n in names if n in run.metrics},
        )


def identity_mismatch(current: RunIdentity, baseline: RunRecord) -> str | None:
    """Why the run with identity ``current`` cannot be compared with the ``baseline`` run, or None when it can.

    A different benchmark version, data checksum, scoring setting, scorer version or metric version is a
    mismatch: the numbers would not measure the same thing. Keys missing or empty on either side are not
    checked (results files of older versions lack some).
    """
    name = current.benchmark or baseline.benchmark or "the benchmark"
    model = baseline.model
    fix = "run the baseline again on the same data and versions, or compare with a baseline that matches"
    if (
        current.benchmark_version
        and baseline.benchmark_version
        and current.benchmark_version != baseline.benchmark_version
    ):
        return (
            f"{name} is version {current.benchmark_version!r} here but {baseline.benchmark_version!r} in the baseline "
            f"run (model {model!r}); {fix}"
        )
    if current.data_checksum and baseline.data_checksum and current.data_checksum != baseline.data_checksum:
        return (
            f"the data of {name} differ (data checksum {current.data_checksum[:12]}... here, "
            f"{baseline.data_checksum[:12]}... in the baseline run of model {model!r}: other samples, audio, "
            f"prompts or references, or a --audiollm-limit / -k selection); {fix}"
        )
    if current.scoring and baseline.scoring and _jsonish(current.scoring) != _jsonish(baseline.scoring):
        return (
            f"the scoring settings of {name} differ ({_jsonish(current.scoring)} here, "
            f"{_jsonish(baseline.scoring)} in the baseline); {fix}"
        )
    for scorer, version in current.scorers.items():
        other = baseline.scorers.get(scorer)
        if version and other and version != other:
            return (
                f"the {scorer} of {name} is version {version!r} here but {other!r} in the baseline run of model "
                f"{model!r}, so scores are not comparable; {fix}"
            )
    for metric, version in current.metric_versions.items():
        base = baseline.metrics.get(metric)
        if base is not None and version and base.version and str(version) != str(base.version):
            return (
                f"metric {metric!r} is version {version!r} here but {base.version!r} in the baseline run of "
                f"{name}, so its values are not comparable; {fix}"
            )
    return None


def _jsonish(value: JSON) -> str:
    return json.dumps(value, sort_keys=True, default=str)
