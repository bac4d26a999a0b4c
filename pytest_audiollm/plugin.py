"""pytest hooks of pytest-audiollm: options, collection, ordering, lifecycle glue. Work happens elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm import hookspecs
from pytest_audiollm.runner import audiollm_case, audiollm_model, audiollm_prediction, audiollm_sample
from pytest_audiollm.settings import add_options, settings_from_config
from pytest_audiollm.state import AudioLLMState, case_key, gate_result_key, row_key, state_key

if TYPE_CHECKING:
    from pytest_audiollm.cases import Case

__all__ = ["audiollm_case", "audiollm_model", "audiollm_prediction", "audiollm_sample"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def _build_state(config: pytest.Config) -> AudioLLMState:
    from pytest_audiollm import builtins
    from pytest_audiollm.registry import BenchmarkRegistry, MetricRegistry, ModelRegistry

    if not config.pluginmanager.is_registered(builtins):
        config.pluginmanager.register(builtins, "audiollm-builtins")
    state = AudioLLMState(
        settings=settings_from_config(config),
        models=ModelRegistry(),
        benchmarks=BenchmarkRegistry(),
        metrics=MetricRegistry(),
    )
    config.hook.pytest_audiollm_register_models.call_historic(kwargs={"registry": state.models})
    from pytest_audiollm.generation.generator import GeneratorRegistry

    config.hook.pytest_audiollm_register_generators.call_historic(kwargs={"registry": GeneratorRegistry(state.models)})
    config.hook.pytest_audiollm_register_benchmarks.call_historic(kwargs={"registry": state.benchmarks})
    config.hook.pytest_audiollm_register_metrics.call_historic(kwargs={"registry": state.metrics})
    return state


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.option.audiollm_list:
        return None
    from pytest_audiollm.report.listing import print_registries

    print_registries(config, _build_state(config))
    return 0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "audiollm(benchmark): parametrize this test over the samples of a benchmark "
        "(name or YAML path) for each --audiollm-model; use the audiollm_sample / audiollm_prediction fixtures",
    )
    state = _build_state(config)
    config.stash[state_key] = state
    if state.settings.benchmarks and config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
        config.args = []  # `pytest --audiollm-benchmark demo` runs the benchmark, not the whole directory
    if not hasattr(config, "workerinput"):
        from pytest_audiollm.results.collector import ResultsCollector

        config.pluginmanager.register(ResultsCollector(config), "audiollm-results")
        if config.getoption("htmlpath", None):  # pytest-html's --html (None when pytest-html is absent)
            from pytest_audiollm.report.html import AudioLLMHtml

            config.pluginmanager.register(AudioLLMHtml(config), "audiollm-html")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_audiollm.xdist_support import XdistSupport

        config.pluginmanager.register(XdistSupport(), "audiollm-xdist")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("bench_"):
        from pytest_audiollm.collection import BenchmarkFile

        return BenchmarkFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("audiollm")
    if marker is None or "audiollm_case" not in metafunc.fixturenames:
        return
    from pytest_audiollm.marker import parametrize_marked

    parametrize_marked(metafunc, marker)


@pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_add(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Collect the benchmarks named with --audiollm-benchmark and check every --audiollm-model name."""
    state = config.stash[state_key]
    for name in state.settings.models:
        if not state.models.knows(name):
            pytest.exit(
                f"pytest-audiollm: {state.models.unknown_message(name)}", returncode=pytest.ExitCode.USAGE_ERROR
            )
    if not state.settings.benchmarks:
        return
    from pytest_audiollm.collection import RegisteredBenchmark

    already = {str(item.path.resolve()) for item in items if item.stash.get(case_key, None) is not None}
    for name in state.settings.benchmarks:
        path = config.invocation_params.dir / name
        if path.is_file() and str(path.resolve()) in already:
            continue  # the file was collected already (bench_*.yaml on a collected path)
        collector = RegisteredBenchmark.from_parent(session, name=name, nodeid=f"audiollm:{name}")
        report = collector.ihook.pytest_make_collect_report(collector=collector)
        if report.failed:
            pytest.exit(str(report.longrepr), returncode=pytest.ExitCode.USAGE_ERROR)
        items.extend(item for item in report.result if isinstance(item, pytest.Item))


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_order(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    from pytest_audiollm.collection import order_items

    order_items(items, config.stash[state_key].settings.models)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[state_key]
    from pytest_audiollm.models.protocol import ModelOptions
    from pytest_audiollm.models.session import ModelPool, ModelSession
    from pytest_audiollm.predictor import Predictor

    settings = state.settings
    if session.config.getoption("lf", False):
        from pytest_audiollm.collection import restore_gate_samples

        restore_gate_samples(session.items)
    for item in session.items:
        case = _case(item)
        if case is not None:
            state.plan.add(case)
            state.last_sample_of_model[case.model] = item.nodeid
    sessions = {}
    for name in settings.models:
        if not state.models.knows(name):
            continue  # collection is being stopped with the list of registered names
        factory, target = state.models.resolve(name)
        options = ModelOptions(
            name=name,
            target=target,
            device=settings.device,
            batch_size=settings.batch_size,
            seed=settings.seed,
            extra=settings.model_extra(name),  # model args + --audiollm-quantize/-adapter/-trust-remote-code
        )
        sessions[name] = ModelSession(name, factory, options, budget=settings.memory_budget)
    state.pool = ModelPool(sessions)
    state.predictor = Predictor(state.plan, settings.batch_size)


def _case(item: pytest.Item) -> Case | None:
    case = item.stash.get(case_key, None)
    if case is None:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("audiollm_case") if callspec is not None else None
        if case is not None:
            item.stash[case_key] = case
    return case


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Per-sample rows and gate results ride on the call report (to the xdist controller, too)."""
    report = yield
    if report.when == "call":
        row = item.stash.get(row_key, None)
        if row is not None:
            report.audiollm_row = row
        gate = item.stash.get(gate_result_key, None)
        if gate is not None:
            report.audiollm_gate = gate
    return report


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
        state.pool.close()
    if state is not None and state.generation is not None:
        state.generation.close()
    java = sys.modules.get("pytest_audiollm.metrics.java")  # only if a metric started a JVM
    if java is not None:
        java.close_all()
