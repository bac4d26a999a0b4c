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
        runs = self.runs()
        if runs:
            from pytest_audiollm.report.terminal import write_summary

            write_summary(terminalreporter, runs)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        settings = self.config.stash[state_key].settings
        paths = [p for p in (settings.results_path, settings.save_baseline_path) if p]
        if paths:
            from pytest_audiollm.results.json_file import write_results

            runs = self.runs()
            for path in paths:  # a baseline is a results file: per-sample rows with the full identity
                write_results(self.config, runs, path)
