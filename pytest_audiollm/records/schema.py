"""The JSON Schema of the results file (``results.schema.json``, shipped in the package)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import MissingDependency

__all__ = ["SCHEMA_PATH", "results_schema", "validate_results"]

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a results document."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate_results(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` matches the schema (needs ``jsonschema``)."""
    try:
        import jsonschema
    except ImportError as exc:
        raise MissingDependency("jsonschema", "validating a results file against its schema") from exc
    jsonschema.validate(document, results_schema(), cls=jsonschema.Draft202012Validator)
