"""pytest hooks of pytest-audiollm: options, collection, ordering, lifecycle glue. The work is in ``core``."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_audiollm import hookspecs
from pytest_audiollm.core.fixtures import audiollm_case, audiollm_model, audiollm_prediction, audiollm_sample
from pytest_audiollm.core.state import case_key, gate_record_key, sample_record_key, state_key
from pytest_audiollm.settings import add_options

__all__ = ["audiollm_case", "audiollm_model", "audiollm_prediction", "audiollm_sample"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.option.audiollm_list:
        return None
    from pytest_audiollm.core.setup import build_state
    from pytest_audiollm.report.listing import print_registries

    print_registries(build_state(config))
    return 0


def pytest_configure(config: pytest.Config) -> None:
    from pytest_audiollm.core.setup import build_state

    config.addinivalue_line(
        "markers",
        "audiollm(benchmark): parametrize this test over the samples of a benchmark "
        "(name or YAML path) for each --audiollm-model; use the audiollm_sample / audiollm_prediction fixtures",
    )
    state = build_state(config)
    config.stash[state_key] = state
    if state.settings.benchmarks and config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        config.args = []  # `pytest --audiollm-benchmark demo` runs the benchmark, not the whole directory
    if not hasattr(config, "workerinput"):  # controller-only work (or the single process)
        from pytest_audiollm.report.terminal import TerminalSummary
        from pytest_audiollm.results.collector import ResultsCollector
        from pytest_audiollm.results.outputs import OutputGuard

        config.pluginmanager.register(OutputGuard(config), "audiollm-outputs")
        config.pluginmanager.register(ResultsCollector(config), "audiollm-results")
        config.pluginmanager.register(TerminalSummary(config), "audiollm-terminal")
        if config.getoption("htmlpath", None):  # pytest-html's --html (None when pytest-html is absent)
            from pytest_audiollm.report.html import AudioLLMHtml

            config.pluginmanager.register(AudioLLMHtml(config), "audiollm-html")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_audiollm.core.xdist import XdistSupport

        config.pluginmanager.register(XdistSupport(), "audiollm-xdist")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("bench_"):
        from pytest_audiollm.core.collection import BenchmarkFile

        return BenchmarkFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """The benchmarks named with --audiollm-benchmark are collected by the session, like paths on the command line
    (so "collected N items", ``--collect-only`` and ``--lf`` count them)."""
    report = yield
    if isinstance(collector, pytest.Session) and collector.config.stash[state_key].settings.benchmarks:
        from pytest_audiollm.core.collection import registered_collectors

        report.result = [*(report.result or []), *registered_collectors(collector)]
    return report


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A benchmark named on the command line that cannot be read is a usage error (one paragraph, exit 4)."""
    if report.failed and report.nodeid.startswith("audiollm:"):
        pytest.exit(str(report.longrepr), returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("audiollm")
    if marker is None or "audiollm_case" not in metafunc.fixturenames:
        return
    from pytest_audiollm.core.marker import parametrize_marked

    parametrize_marked(metafunc, marker)


@pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_check(config: pytest.Config) -> None:
    """Every --audiollm-model name is known, and benchmarks that evaluate a model have one."""
    from pytest_audiollm.core.collection import NEEDS_MODEL

    state = config.stash[state_key]
    for name in state.settings.models:
        if not state.models.knows(name):
            pytest.exit(
                f"pytest-audiollm: {state.models.unknown_message(name)}", returncode=pytest.ExitCode.USAGE_ERROR
            )
    needing = state.extra.get(NEEDS_MODEL)
    if needing and not state.settings.models:
        names = ", ".join(dict.fromkeys(needing))
        pytest.exit(
            f"pytest-audiollm: no model selected for {names}: pass --audiollm-model NAME (see pytest --audiollm-list; "
            f"repeat it for several models) or set audiollm_models in your pytest configuration. Without a model the "
            f"benchmark would only be skipped and the session would pass without evaluating anything.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_order(config: pytest.Config, items: list[pytest.Item]) -> None:
    from pytest_audiollm.core.ordering import order_items, restore_gate_samples

    if config.getoption("lf", False):
        restore_gate_samples(items)
    order_items(items, config.stash[state_key].settings.models)


def pytest_collection_finish(session: pytest.Session) -> None:
    from pytest_audiollm.core.setup import prepare_run

    prepare_run(session, session.config.stash[state_key])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Sample and gate records ride on the call report (to the xdist controller, too)."""
    report = yield
    if report.when == "setup" and hasattr(item.config, "workerinput"):
        from pytest_audiollm.core.xdist import started_row

        row = started_row(item)  # the controller's record of this sample if its worker dies running it
        if row is not None:
            report.audiollm_started = row
    if report.when == "call":
        record = item.stash.get(sample_record_key, None)
        if record is not None:
            report.audiollm_row = record.to_json()
        gate = item.stash.get(gate_record_key, None)
        if gate is not None:
            report.audiollm_gate = gate.to_json()
    return report


@pytest.hookimpl(trylast=True)  # after pytest's own teardown: an unload that raises errors this item only
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    state = item.config.stash[state_key]
    case = item.stash.get(case_key, None)
    if case is None or state.pool is None or case.model not in state.pool.sessions:
        return  # not a sample, or a generated folder (no model behind it)
    next_case = nextitem.stash.get(case_key, None) if nextitem is not None else None
    last = state.last_sample_of_model.get(case.model) == item.nodeid
    if nextitem is None or last or (next_case is not None and next_case.model != case.model):
        state.pool.release(case.model)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(state_key, None)
    if state is not None and state.pool is not None:
        errors = state.pool.close()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for error in errors:
                reporter.write_line(f"pytest-audiollm: {error}")
    if state is not None:
        state.kinds.close()
    java = sys.modules.get("pytest_audiollm.metrics.java")  # only if a metric started a JVM
    if java is not None:
        java.close_all()
