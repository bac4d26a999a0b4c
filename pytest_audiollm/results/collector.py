"""ResultsCollector (controller only): gathers rows and gate results from reports, from any worker."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from pytest_audiollm.state import state_key

RunKey = tuple[str, str, str]


class ResultsCollector:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[RunKey, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.gates: dict[RunKey, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._final: list[dict[str, Any]] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "audiollm_row", None)
        if isinstance(row, dict):
            self.rows[(row["owner"], row["model"], row["benchmark"])][row["id"]] = row
        gate = getattr(report, "audiollm_gate", None)
        if isinstance(gate, dict):
            self.gates[(gate["owner"], gate["model"], gate["benchmark"])][gate["metric"]] = gate

    def runs(self) -> list[dict[str, Any]]:
        from pytest_audiollm.results.runs import build_runs

        return build_runs(self.config.stash[state_key], self.rows, self.gates)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        runs = self._final if self._final is not None else self.runs()
        if runs:
            from pytest_audiollm.report.terminal import write_summary

            write_summary(terminalreporter, runs, list(self.config.stash[state_key].settings.models))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Every report is in: build the runs once, before junitxml writes its file (suite properties)."""
        self._final = runs = self.runs()
        _suite_properties(self.config, runs)
        settings = self.config.stash[state_key].settings
        paths = [p for p in (settings.results_path, settings.save_baseline_path) if p]
        if paths:
            from pytest_audiollm.results.json_file import write_results

            for path in paths:  # a baseline is a results file: per-sample rows with the full identity
                write_results(self.config, runs, path)


def _suite_properties(config: pytest.Config, runs: list[dict[str, Any]]) -> None:
    """Aggregates as JUnit <testsuite> properties, written by the controller (record_testsuite_property does
    not work under xdist: pytest-dev/pytest#7767)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without junitxml internals: per-test properties remain
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for run in runs:
        prefix = f"audiollm.{run['benchmark']}.{run['model']}"
        xml.add_global_property(f"{prefix}.fingerprint", run["model_fingerprint"])
        for name, metric in run["metrics"].items():
            if metric.get("value") is not None:
                xml.add_global_property(f"{prefix}.{name}", f"{metric['value']:.6g}")
                ci = metric.get("ci95") or [None, None]
                if ci[0] is not None:
                    xml.add_global_property(f"{prefix}.{name}.ci95", f"{ci[0]:.6g} {ci[1]:.6g}")
