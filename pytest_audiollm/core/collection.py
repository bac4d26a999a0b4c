"""Collection: benchmark specs become one item per (subject, sample) and one gate item per (subject, metric).

Which subjects run a spec, and on which samples, is its task kind's decision (:meth:`TaskKind.plan`); this
module only turns the planned runs into pytest items, in command-line model order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.core.state import case_key, gate_key, state_key
from pytest_audiollm.errors import AudioLLMError, SpecError
from pytest_audiollm.tasks.base import SubjectInfo
from pytest_audiollm.tasks.cases import Case, GateCase

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.core.state import AudioLLMState
    from pytest_audiollm.sample import Sample

run_items_key = pytest.StashKey[dict[tuple[str, str, str], list[pytest.Item]]]()
NEEDS_MODEL = "needs_model"  # AudioLLMState.extra key: benchmarks collected with no subject selected

__all__ = ["BenchmarkFile", "GateItem", "RegisteredBenchmark", "SampleItem", "build_items", "validate_spec"]


class _BenchmarkFunction(pytest.Function):
    """A Function named ``benchmark[model::what]`` whose structured node id matches its parsed string.

    pytest >= 9.2 compares structured node ids (``--lf``, ``--deselect``); a Function built without a
    callspec keeps its whole name as one part, while a stored id string parses into name + params. We
    re-derive the id from the string so both agree.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            from _pytest.nodeid import NodeId
        except ImportError:  # pytest < 9.2: node ids are plain strings
            return
        self._id = NodeId.parse(self.nodeid)


class SampleItem(_BenchmarkFunction):
    """One (subject, benchmark, sample): fails only when the subject or the sample itself is at fault.

    It requests no fixtures of its own (autouse fixtures of the user still apply): the model comes from the
    process's ModelPool when the item runs, which keeps the per-item cost near a plain test's.
    """

    def runtest(self) -> None:
        from pytest_audiollm.core.items import run_sample_item

        run_sample_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        case = self.stash[case_key]
        return self.path, 0, f"{case.spec.name}[{case.model}::{case.sample.id}]"


class GateItem(_BenchmarkFunction):
    """One aggregate metric of a (subject, benchmark) run, with its threshold: decides the exit code."""

    def runtest(self) -> None:
        from pytest_audiollm.core.items import run_gate_item

        run_gate_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        gate = self.stash[gate_key]
        return self.path, 0, f"{gate.spec.name}[{gate.model}::gate:{gate.metric}]"


def _benchmark_item() -> None:
    """The function object of sample and gate items (their work is in ``runtest``)."""


def _skip_test(reason: str) -> Any:
    def skipped() -> None:
        pytest.skip(reason)

    return skipped


def selected_subjects(state: AudioLLMState) -> list[SubjectInfo]:
    return [SubjectInfo(name, state.models.kind_of(name)) for name in state.settings.models if state.models.knows(name)]


def _runs(
    specs: Sequence[BenchmarkSpec], state: AudioLLMState
) -> Iterator[tuple[str, bool, list[tuple[BenchmarkSpec, list[Sample]]]]]:
    """(subject, loads_subject, [(spec, samples)]) in command-line model order; folder runs after them."""
    subjects = selected_subjects(state)
    groups: dict[str, tuple[bool, list[tuple[BenchmarkSpec, list[Sample]]]]] = {s.name: (True, []) for s in subjects}
    for spec in specs:
        for planned in state.kinds.get(spec.kind).plan(spec, subjects, state.settings.limit):
            loads, group = groups.setdefault(planned.subject, (planned.loads_subject, []))
            group.append((spec, planned.samples))
    for subject, (loads, group) in groups.items():
        if group:
            yield subject, loads, group


def validate_spec(spec: BenchmarkSpec, state: AudioLLMState) -> None:
    """The spec's metrics are its kind's; every --audiollm-threshold on it names one of them (with a CI if asked)."""
    kind = state.kinds.get(spec.kind)
    kind.check_metrics(spec, state.metrics)
    for override in state.settings.thresholds:
        if not override.applies_to(spec.name):
            continue
        if override.benchmark == spec.name and override.metric not in spec.metrics:
            raise SpecError(
                spec.source or spec.name,
                "metrics",
                f"--audiollm-threshold sets a gate on {override.metric!r}, which this benchmark does "
                f"not compute (its metrics: {', '.join(spec.metrics)})",
            )
        bound = override.condition.bound
        if override.metric in spec.metrics and bound != "value" and not kind.metric_has_ci(spec, override.metric,
                                                                                           state.metrics):  # fmt: skip
            raise SpecError(
                spec.source or spec.name,
                "",
                f"--audiollm-threshold gates {bound} of {override.metric}, which has no confidence interval in this "
                f"benchmark: gate its value instead ('{spec.name}:{override.metric}<=X')",
            )


def build_items(parent: pytest.Collector, specs: Sequence[BenchmarkSpec], owner: str) -> Iterator[pytest.Item]:
    """Items of ``specs`` for every selected subject: samples first, then one gate per metric."""
    state = parent.config.stash[state_key]
    settings = state.settings
    for spec in specs:
        validate_spec(spec, state)
    runs = list(_runs(specs, state))
    if not runs:
        if not settings.models:
            state.extra.setdefault(NEEDS_MODEL, []).extend(s.name for s in specs)
            return
        wanted = sorted({k for s in specs for k in state.kinds.get(s.kind).subjects})
        reason = f"no selected model fits: {specs[0].name} evaluates {' or '.join(wanted)}s"
        yield pytest.Function.from_parent(parent, name=f"{specs[0].name}[no-model]", callobj=_skip_test(reason))
        return
    run_items = parent.stash.setdefault(run_items_key, {})
    # Every item of this collector has the same (empty) function and so the same fixture closure: reuse the
    # first item's, as pytest does for the instances of one parametrized function (saves ~40% of collection).
    fixtureinfo: Any = None
    for model, loads, group in runs:
        for spec, samples in group:
            for sample in samples:
                item = SampleItem.from_parent(
                    parent, name=f"{spec.name}[{model}::{sample.id}]", callobj=_benchmark_item, fixtureinfo=fixtureinfo
                )
                fixtureinfo = item._fixtureinfo
                case = Case(model=model, spec=spec, sample=sample, owner=owner, loads_subject=loads)
                item.stash[case_key] = case
                run_items.setdefault(case.run_key, []).append(item)
                yield item
            for metric in spec.metrics:
                condition = spec.thresholds.get(metric)
                for override in settings.thresholds:
                    if override.metric == metric and override.applies_to(spec.name):
                        condition = override.condition
                gate = GateItem.from_parent(
                    parent, name=f"{spec.name}[{model}::gate:{metric}]", callobj=_benchmark_item,
                    fixtureinfo=fixtureinfo,
                )  # fmt: skip
                gate.stash[gate_key] = GateCase(model=model, spec=spec, metric=metric, condition=condition,
                                                owner=owner, loads_subject=loads)  # fmt: skip
                yield gate


class _SpecErrorsAsText(pytest.Collector):
    """A benchmark collector reports user errors (bad YAML, unknown metric) as one paragraph, no traceback."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, AudioLLMError):
            return f"pytest-audiollm: {excinfo.value}"
        return super().repr_failure(excinfo)


class BenchmarkFile(pytest.File, _SpecErrorsAsText):
    """A ``bench_*.yaml`` file found by collection."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from pytest_audiollm.benchmarks.spec import load_spec

        state = self.config.stash[state_key]
        return list(build_items(self, [load_spec(self.path, state.kinds)], owner=self.nodeid))


class RegisteredBenchmark(_SpecErrorsAsText):
    """A benchmark named with --audiollm-benchmark NAME (registered, or a YAML file), collected by the session."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from pytest_audiollm.benchmarks.spec import load_spec

        state = self.config.stash[state_key]
        path = self.config.invocation_params.dir / self.name
        if self.name not in state.benchmarks and path.suffix in (".yaml", ".yml") and path.is_file():
            specs = [load_spec(path, state.kinds)]
        else:
            specs = state.benchmarks.specs(self.name, state.kinds)
        return list(build_items(self, specs, owner=self.nodeid))


def registered_collectors(session: pytest.Session) -> list[RegisteredBenchmark]:
    """A collector per --audiollm-benchmark, except YAML files that the session collects from its paths anyway."""
    state = session.config.stash[state_key]
    out = []
    for name in state.settings.benchmarks:
        path = (session.config.invocation_params.dir / name).resolve()
        if (
            path.is_file()
            and path.name.startswith("bench_")
            and any(p == path or p in path.parents for p in session._initialpaths)
        ):
            continue  # a bench_*.yaml under a collected path: collected as a file
        out.append(RegisteredBenchmark.from_parent(session, name=name, nodeid=f"audiollm:{name}"))
    return out
