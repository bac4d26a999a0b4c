"""Typed records: the results file's schema in code.

``SampleRecord`` (a sample item), ``GateRecord`` (a gate item), ``Comparison`` (a metric against a baseline),
``RunRecord`` / ``MetricRecord`` / ``GateSummary`` / ``SubjectStats`` (a run of the results file) and
``ResultsDocument`` (the whole file). Task kinds return sample and gate records; the core turns them into
pytest outcomes, JUnit properties and results rows; reports render run records. The JSON Schema of the file
is ``results.schema.json`` in this package (:func:`pytest_audiollm.records.schema.results_schema`).
"""

from __future__ import annotations

from pytest_audiollm.records.document import (
    SCHEMA,
    ResultsDocument,
    RunIdentity,
    identity_mismatch,
    read_baseline,
    read_results,
    select_run,
)
from pytest_audiollm.records.gate import Comparison, GateRecord
from pytest_audiollm.records.run import GateSummary, MetricRecord, RunRecord, SubjectStats
from pytest_audiollm.records.sample import ERROR_KINDS, SampleRecord

__all__ = [
    "ERROR_KINDS",
    "SCHEMA",
    "Comparison",
    "GateRecord",
    "GateSummary",
    "MetricRecord",
    "ResultsDocument",
    "RunIdentity",
    "RunRecord",
    "SampleRecord",
    "SubjectStats",
    "identity_mismatch",
    "read_baseline",
    "read_results",
    "select_run",
]
