"""OutputGuard (controller only): complete output files only, each written atomically.

A session that did not finish (Ctrl-C, ``-x`` / ``--maxfail``, an internal error) must not replace a good results,
JUnit, HTML or baseline file with part of a run. This plugin decides once, when the session finishes, whether
it is complete, then:

- JUnit (pytest's ``--junitxml``): the file is written to a unique temporary name and renamed onto its path, or,
  for an incomplete session, onto ``NAME.incomplete.xml`` next to it;
- HTML (pytest-html's ``--html``): written atomically, to ``NAME.incomplete.html`` for an incomplete session;
- the results file and the baseline follow the same rule (see :class:`~.collector.ResultsCollector`); a baseline
  is never written by an incomplete session.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_audiollm.results.atomic import incomplete_path, write_atomic

__all__ = ["OutputGuard", "session_complete"]

_INCOMPLETE_EXITS = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)


def session_complete(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> tuple[bool, str]:
    """Whether every selected item ran, and if not why (interrupted, stopped after failures, ...)."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return False, "the session was interrupted"
    if exitstatus in _INCOMPLETE_EXITS:
        return False, f"the session ended with {pytest.ExitCode(exitstatus).name}"
    stopped = session.shouldfail or session.shouldstop
    if stopped:
        return False, f"the session stopped early ({stopped})"
    scheduler = getattr(session.config.pluginmanager.get_plugin("dsession"), "sched", None)
    if scheduler is not None and not getattr(scheduler, "tests_finished", True):
        return False, "pytest-xdist stopped before every item ran (maximum crashed workers reached?)"
    return True, ""


class OutputGuard:
    """Routes pytest's JUnit file and pytest-html's report through atomic, completeness-aware writes."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.complete = True
        self.reason = ""
        self._junit: Any = None
        self._junit_target: Path | None = None
        self._html: Any = None
        self._html_target: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - a pytest without junitxml internals: its own writing applies
            xml = None
        else:
            xml = self.config.stash.get(xml_key, None)
        if xml is not None:
            self._junit = xml
            self._junit_target = Path(xml.logfile)
            # LogXML opens its logfile only when it writes: a unique name nothing else uses, renamed later
            xml.logfile = str(self._junit_target.with_name(f".{self._junit_target.name}.{os.getpid()}.{id(self)}.tmp"))
        self._html = next((p for p in self.config.pluginmanager.get_plugins() if _is_html_report(p)), None)
        if self._html is not None:
            report = self._html

            def write_report(rendered: str) -> None:
                write_atomic(report._report_path, rendered)

            report._write_report = write_report

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
        self.complete, self.reason = session_complete(session, exitstatus)
        if not self.complete and self._html is not None:
            self._html_target = Path(self._html._report_path)
            self._html._report_path = incomplete_path(self._html_target)

    @pytest.hookimpl(trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_move_junit(self, session: pytest.Session) -> None:
        """After pytest wrote the JUnit file under its temporary name: rename it onto its place."""
        if self._junit is None or self._junit_target is None:
            return
        written = Path(self._junit.logfile)
        target = self._junit_target if self.complete else incomplete_path(self._junit_target)
        self._junit.logfile = str(target)  # what "generated xml file: ..." prints
        if written.exists():
            os.replace(written, target)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.complete:
            return
        written = [str(incomplete_path(Path(p))) for p in (self._junit_target, self._html_target) if p is not None]
        if written:
            terminalreporter.write_line(
                f"pytest-audiollm: {self.reason}: its JUnit / HTML reports went to {', '.join(written)} "
                f"(the files at their usual paths, if any, are unchanged)"
            )


def _is_html_report(plugin: object) -> bool:
    return any(
        cls.__name__ == "BaseReport" and cls.__module__.startswith("pytest_html") for cls in type(plugin).__mro__
    )
