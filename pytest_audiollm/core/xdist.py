"""pytest-xdist support: keep each (model, benchmark) run on one worker, in collection order; survive a crash.

A gate aggregates every sample of its run, and the Predictor batches a run's upcoming samples, so a run
must not be split across workers. With the default ``--dist load`` we install a LoadScope scheduler whose
scope is the run (``<collector>::<benchmark>[<model>``); other tests keep one-test scopes, i.e. ordinary
load balancing. Other ``--dist`` modes are left alone (gates then aggregate what ran on their worker).

A worker that dies while running a sample (a segfault in native code, an abort, the OOM killer): xdist's
LoadScope scheduler puts the whole unfinished scope back in its queue, the crashed item included, so every
replacement worker crashed on it again until "maximum crashed workers reached" ended the session and the rest
of the run was never run. Here the crashed item is marked done: it fails once (with a record in the results,
built from the row its setup report carried), and the rest of its run continues in another worker, whose gate
reads the run's earlier records from the :mod:`~pytest_audiollm.core.journal`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from typing import Any

import pytest

from pytest_audiollm.core.journal import JOURNAL_INPUT, RunJournal
from pytest_audiollm.core.state import case_key, state_key
from pytest_audiollm.records import SampleRecord

_RUN_ITEM = re.compile(r"^(?P<scope>.*\[[^\[\]]*?)::(?:gate:)?[^:\[\]]+\]$")

__all__ = ["XdistSupport", "run_scope", "started_row"]


def run_scope(nodeid: str) -> str:
    match = _RUN_ITEM.match(nodeid)
    return match["scope"] if match else nodeid


def started_row(item: pytest.Item) -> dict[str, Any] | None:
    """The record a sample item leaves if its process dies while it runs (sent on its setup report)."""
    from pytest_audiollm.core.items import failed_record

    case = item.stash.get(case_key, None)
    if case is None:
        return None
    state = item.config.stash[state_key]
    return failed_record(state, case, "the worker process died while running this sample", item.nodeid).to_json()


def crash_message(nodeid: str, worker: str) -> str:
    return (
        f"worker {worker!r} crashed while running {nodeid!r}: the process died (a segfault or an abort in native "
        "code, or the kernel's out-of-memory killer). This sample is recorded as failed with that error and is not "
        "run again; the rest of its run goes on in another worker. Run it alone without -n "
        f"(pytest '{nodeid}') to see the crash."
    )


class XdistSupport:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}  # nodeid -> row, for samples running now (controller)
        self.crashed: dict[str, dict[str, Any]] = {}  # nodeid -> the record of the sample its worker died on
        self._journal: RunJournal | None = None

    def journal(self) -> RunJournal:
        if self._journal is None:
            from pathlib import Path

            self._journal = RunJournal(Path(tempfile.mkdtemp(prefix="audiollm-journal-")))
        return self._journal

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Each worker (replacements too) gets the journal folder, with the run scheduler only: other --dist
        modes split runs over workers, and their gates aggregate what ran on their own worker."""
        if node.config.getvalue("dist") == "load":
            node.workerinput[JOURNAL_INPUT] = str(self.journal().folder)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "audiollm_started", None)
        if isinstance(row, dict):
            self.started[report.nodeid] = row
        elif report.when == "teardown":
            self.started.pop(report.nodeid, None)

    def record_crash(self, nodeid: str, worker: str) -> None:
        """Called by the scheduler when ``worker`` died running ``nodeid``, before the run goes elsewhere."""
        row = self.started.pop(nodeid, None)
        if row is None:
            return  # a gate, or a test of the user's: nothing to record
        record = SampleRecord.from_json(row)
        record.error = f"the worker process ({worker}) died while running this sample"
        record.message = crash_message(nodeid, worker)
        self.journal().append(record)
        self.crashed[nodeid] = record.to_json()

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "?")
        report.longrepr = crash_message(crashitem, str(worker))
        row = self.crashed.pop(crashitem, None)
        if row is not None:
            report.__dict__["audiollm_row"] = row  # the results collector keeps it like any sample's row

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._journal is not None:
            shutil.rmtree(self._journal.folder, ignore_errors=True)

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None
        from xdist.scheduler import LoadScopeScheduling

        support = self

        class RunScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return run_scope(nodeid)

            def remove_node(self, node: Any) -> str | None:
                """LoadScope's, except that the item the node crashed on is not sent again."""
                workload = self.assigned_work.pop(node)
                if not self._pending_of(workload):
                    return None
                crashitem = next(
                    nodeid for unit in workload.values() for nodeid, completed in unit.items() if not completed
                )
                support.record_crash(crashitem, str(node.gateway.id))
                workload[self._split_scope(crashitem)][crashitem] = True  # it failed, once
                self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
                for other in self.assigned_work:
                    self._reschedule(other)
                return str(crashitem)

        return RunScopeScheduling(config, log)
