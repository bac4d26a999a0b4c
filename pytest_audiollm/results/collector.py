"""ResultsCollector (controller only): gathers sample and gate records from the reports of every worker.

At the end of the session it builds the runs once (before pytest's junitxml writes its file, so the aggregates
become suite properties), remembers failed gates' samples for ``--lf``, and writes the results file and the
baseline: atomically, only when something ran, and never over a good file from an incomplete session.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pytest_audiollm.core.state import state_key
from pytest_audiollm.records import GateRecord, RunRecord, SampleRecord
from pytest_audiollm.tasks.cases import RunKey

__all__ = ["ResultsCollector"]


class ResultsCollector:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.samples: dict[RunKey, dict[str, SampleRecord]] = defaultdict(dict)
        self.gates: dict[RunKey, dict[str, GateRecord]] = defaultdict(dict)
        self.written: list[str] = []  # lines for the terminal summary: what was written where, or why not
        self._final: list[RunRecord] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "audiollm_row", None)
        if isinstance(row, dict):
            record = SampleRecord.from_json(row)
            self.samples[record.run_key][record.id] = record
        gate = getattr(report, "audiollm_gate", None)
        if isinstance(gate, dict):
            result = GateRecord.from_json(gate)
            self.gates[result.run_key][result.metric] = result

    def _merge_unreported(self) -> None:
        """Records of this process that no report carried (an item stopped by Ctrl-C or ``SystemExit`` gets no
        report, but its sample item left its record): every sample that ran stays in the results."""
        for key, records in self.config.stash[state_key].records.items():
            for record in records:
                self.samples[key].setdefault(record.id, record)

    def runs(self) -> list[RunRecord]:
        """The runs of this session (built once at its end; before that, from what has been reported so far)."""
        if self._final is not None:
            return self._final
        from pytest_audiollm.core.runs import build_runs

        return build_runs(self.config.stash[state_key], self.samples, self.gates)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
        """Every report is in: build the runs once, before junitxml writes its file (suite properties)."""
        from pytest_audiollm.core.ordering import remember_gate_samples
        from pytest_audiollm.results.junit import suite_properties
        from pytest_audiollm.results.outputs import session_complete

        self._merge_unreported()
        self._final = runs = self.runs()
        suite_properties(self.config, runs)
        remember_gate_samples(self.config, self.samples, self.gates)
        complete, why = session_complete(session, exitstatus)
        if not self._write(runs, complete, why) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a result that could not be saved fails the run

    def _write(self, runs: list[RunRecord], complete: bool, why: str) -> bool:
        """Write the results file and the baseline; False when a write failed (the old file is kept)."""
        from pytest_audiollm.errors import AudioLLMError
        from pytest_audiollm.results.atomic import incomplete_path
        from pytest_audiollm.results.json_file import write_results

        settings = self.config.stash[state_key].settings
        base = self.config.invocation_params.dir
        targets = [(p, "results") for p in (settings.results_path,) if p]
        targets += [(p, "baseline") for p in (settings.save_baseline_path,) if p]
        ok = True
        for path, what in targets:
            target = base / Path(path)
            if not runs:
                self.written.append(f"no {what} written to {target}: no benchmark item ran in this session")
                continue
            if not complete and what == "baseline":
                self.written.append(f"no baseline saved to {target}: {why} (a baseline must cover the whole run)")
                continue
            if not complete:
                target = incomplete_path(target)
            try:
                write_results(self.config, runs, target, complete=complete)
            except AudioLLMError as exc:
                self.written.append(f"error: {exc}")
                ok = False
                continue
            self.written.append(f"{'baseline saved to' if what == 'baseline' else 'results written to'} {target}")
        return ok

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.written:
            terminalreporter.write_line(f"pytest-audiollm: {line}")
