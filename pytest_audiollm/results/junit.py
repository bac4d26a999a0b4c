"""Aggregates as JUnit ``<testsuite>`` properties, written by the controller.

``record_testsuite_property`` does not work under xdist (pytest-dev/pytest#7767), so the controller adds the
properties to pytest's LogXML itself, once every report is in.
"""

from __future__ import annotations

import pytest

from pytest_audiollm.records import RunRecord

__all__ = ["suite_properties"]


def suite_properties(config: pytest.Config, runs: list[RunRecord]) -> None:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without junitxml internals: per-test properties remain
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for run in runs:
        prefix = f"audiollm.{run.benchmark}.{run.model}"
        xml.add_global_property(f"{prefix}.fingerprint", run.model_fingerprint)
        for name, metric in run.metrics.items():
            if metric.value is not None:
                xml.add_global_property(f"{prefix}.{name}", f"{metric.value:.6g}")
                ci = metric.ci95 or [None, None]
                if ci[0] is not None and ci[1] is not None:
                    xml.add_global_property(f"{prefix}.{name}.ci95", f"{ci[0]:.6g} {ci[1]:.6g}")
