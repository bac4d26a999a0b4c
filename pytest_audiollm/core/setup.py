"""Session set-up: the registries a configuration gets from the hooks, and the run plan, pool and context."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_audiollm.core.state import AudioLLMState, case_key, gate_key

if TYPE_CHECKING:
    from pytest_audiollm.tasks.cases import Case

__all__ = ["build_state", "prepare_run"]


def build_state(config: pytest.Config) -> AudioLLMState:
    """Settings and the registries, filled by every ``pytest_audiollm_register_*`` implementation."""
    from pytest_audiollm import builtins
    from pytest_audiollm.benchmarks.registry import BenchmarkRegistry
    from pytest_audiollm.metrics.registry import MetricRegistry
    from pytest_audiollm.models.registry import GeneratorRegistry, ModelRegistry
    from pytest_audiollm.settings import settings_from_config
    from pytest_audiollm.tasks.registry import TaskKindRegistry

    if not config.pluginmanager.is_registered(builtins):
        config.pluginmanager.register(builtins, "audiollm-builtins")
    state = AudioLLMState(
        settings=settings_from_config(config),
        models=ModelRegistry(),
        benchmarks=BenchmarkRegistry(),
        metrics=MetricRegistry(),
        kinds=TaskKindRegistry(),
    )
    hook = config.hook
    hook.pytest_audiollm_register_models.call_historic(kwargs={"registry": state.models})
    hook.pytest_audiollm_register_generators.call_historic(kwargs={"registry": GeneratorRegistry(state.models)})
    hook.pytest_audiollm_register_benchmarks.call_historic(kwargs={"registry": state.benchmarks})
    hook.pytest_audiollm_register_metrics.call_historic(kwargs={"registry": state.metrics})
    hook.pytest_audiollm_register_task_kinds.call_historic(kwargs={"registry": state.kinds})
    return state


def _case(item: pytest.Item) -> Case | None:
    case = item.stash.get(case_key, None)
    if case is None:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("audiollm_case") if callspec is not None else None
        if case is not None:
            item.stash[case_key] = case
    return case


def prepare_run(session: pytest.Session, state: AudioLLMState) -> None:
    """After collection and deselection: the run plan (batching, gates), a session per subject, the context."""
    from pytest_audiollm.models.protocol import ModelOptions
    from pytest_audiollm.models.session import ModelPool, ModelSession
    from pytest_audiollm.tasks.base import RunContext

    settings = state.settings
    for item in session.items:
        case = _case(item)
        if case is not None:
            state.plan.add(case)
            if case.loads_subject:
                state.last_sample_of_model[case.model] = item.nodeid
        elif gate_key in item.stash:
            state.plan.runs.setdefault(item.stash[gate_key].run_key, [])
    sessions = {}
    for name in settings.models:
        if not state.models.knows(name):
            continue  # collection is being stopped with the list of registered names
        factory, target = state.models.resolve(settings.model_spec(name))  # credentials only reach the factory
        options = ModelOptions(
            name=name,  # as shown: messages that name the model hide credentials
            target=target,
            device=settings.device,
            batch_size=settings.batch_size,
            seed=settings.seed,
            extra=settings.model_extra(name),  # model args + --audiollm-quantize/-adapter/-trust-remote-code
        )
        sessions[name] = ModelSession(name, factory, options, budget=settings.memory_budget)
    state.pool = ModelPool(sessions)
    state.context = RunContext(settings=settings, metrics=state.metrics, plan=state.plan, pool=state.pool,
                               records=state.records)  # fmt: skip
