"""Collection: benchmark specs become one item per (model, sample) and one gate item per (model, metric)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.cases import Case, GateCase
from pytest_audiollm.errors import AudioLLMError, SpecError
from pytest_audiollm.state import case_key, gate_key, state_key

run_items_key = pytest.StashKey[dict[tuple[str, str, str], list[pytest.Item]]]()

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from pytest_audiollm.benchmarks.spec import BenchmarkSpec
    from pytest_audiollm.state import AudioLLMState


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
    """One (model, benchmark, sample): fails only when the model or the sample itself is at fault.

    It requests no fixtures of its own (autouse fixtures of the user still apply): the model comes from the
    process's ModelPool when the item runs, which keeps the per-item cost near a plain test's.
    """

    def runtest(self) -> None:
        from pytest_audiollm.runner import run_sample_item

        run_sample_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        case = self.stash[case_key]
        return self.path, 0, f"{case.spec.name}[{case.model}::{case.sample.id}]"


class GateItem(_BenchmarkFunction):
    """One aggregate metric of a (model, benchmark) run, with its threshold: decides the exit code."""

    def runtest(self) -> None:
        from pytest_audiollm.runner import run_gate_item

        run_gate_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        gate = self.stash[gate_key]
        return self.path, 0, f"{gate.spec.name}[{gate.model}::gate:{gate.metric}]"


def _benchmark_item() -> None:
    """The function object of sample and gate items (their work is in ``runtest``)."""


def _runs(
    specs: Sequence[BenchmarkSpec], state: AudioLLMState
) -> Iterator[tuple[str, list[tuple[BenchmarkSpec, list[Any]]]]]:
    """(model or generated-folder label, [(spec, samples)]) in model order.

    Text benchmarks run with the selected models that are not generators; generation benchmarks comparing folders
    run once per generated folder (no model needed); generation benchmarks over prompts run with the generators.
    """
    from pytest_audiollm.benchmarks.sources import list_samples

    settings = state.settings
    limit = settings.limit
    groups: dict[str, list[tuple[BenchmarkSpec, list[Any]]]] = {}
    text = [s for s in specs if s.task != "generation"]
    prompts = [s for s in specs if s.task == "generation" and s.generation is not None and not s.generation.folder_mode]
    for model in settings.models:
        fits = prompts if state.models.is_generator(model) else text
        if fits:
            groups[model] = [(spec, list_samples(spec.data, spec.name, limit)) for spec in fits]
    for spec in specs:
        if spec.task == "generation" and spec.generation is not None and spec.generation.folder_mode:
            from pytest_audiollm.generation.items import list_generated_files

            for label, folder in spec.generation.systems.items():
                groups.setdefault(label, []).append((spec, list_generated_files(folder, spec.name, limit)))
    yield from groups.items()


def _skip_test(reason: str) -> Any:
    def skipped() -> None:
        pytest.skip(reason)

    return skipped


def _no_model_test() -> None:
    pytest.skip(
        "no model selected: run with --audiollm-model NAME (see pytest --audiollm-list), "
        "or set audiollm_models in your pytest configuration"
    )


def validate_spec(spec: BenchmarkSpec, state: AudioLLMState) -> None:
    for name in spec.metrics if spec.task != "generation" else ():  # generation metrics: checked by parse_spec
        if name not in state.metrics:
            raise SpecError(spec.source or spec.name, "metrics", state.metrics.unknown_message(name))
    for override in state.settings.thresholds:
        if override.benchmark == spec.name and override.metric not in spec.metrics:
            raise SpecError(
                spec.source or spec.name,
                "metrics",
                f"--audiollm-threshold sets a gate on {override.metric!r}, which this benchmark does "
                f"not compute (its metrics: {', '.join(spec.metrics)})",
            )


def build_items(parent: pytest.Collector, specs: Sequence[BenchmarkSpec], owner: str) -> Iterator[pytest.Item]:
    """Items of ``specs`` for every selected model: samples first, then one gate per metric."""

    state = parent.config.stash[state_key]
    settings = state.settings
    runs = list(_runs(specs, state))
    if not runs:
        if settings.models:
            kinds = "generation benchmarks need a generator" if specs[0].task == "generation" else "generators"
            yield pytest.Function.from_parent(
                parent, name=f"{specs[0].name}[no-model]", callobj=_skip_test(f"no selected model fits: {kinds}")
            )
        else:
            yield pytest.Function.from_parent(parent, name=f"{specs[0].name}[no-model]", callobj=_no_model_test)
        return
    for spec in specs:
        validate_spec(spec, state)
    run_items = parent.stash.setdefault(run_items_key, {})
    # Every item of this collector has the same (empty) function and so the same fixture closure: reuse the
    # first item's, as pytest does for the instances of one parametrized function (saves ~40% of collection).
    fixtureinfo: Any = None
    for model, group in runs:
        for spec, samples in group:
            for sample in samples:
                item = SampleItem.from_parent(
                    parent, name=f"{spec.name}[{model}::{sample.id}]", callobj=_benchmark_item, fixtureinfo=fixtureinfo
                )
                fixtureinfo = item._fixtureinfo
                case = Case(model=model, spec=spec, sample=sample, owner=owner)
                item.stash[case_key] = case
                run_items.setdefault(case.run_key, []).append(item)
                yield item
            for metric in spec.metrics:
                condition = spec.thresholds.get(metric)
                for override in settings.thresholds:
                    if override.metric == metric and override.applies_to(spec.name):
                        condition = override.condition
                gate = GateItem.from_parent(
                    parent,
                    name=f"{spec.name}[{model}::gate:{metric}]",
                    callobj=_benchmark_item,
                    fixtureinfo=fixtureinfo,
                )
                gate.stash[gate_key] = GateCase(model=model, spec=spec, metric=metric, condition=condition, owner=owner)
                yield gate


class _SpecErrorsAsText(pytest.Collector):
    """A benchmark collector reports user errors (bad YAML, unknown metric) as one paragraph, no traceback."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, AudioLLMError):
            return f"pytest-audiollm: {excinfo.value}"
        return super().repr_failure(excinfo)


class BenchmarkFile(pytest.File, _SpecErrorsAsText):
    """A ``bench_*.yaml`` file found by collection (or named with --audiollm-benchmark)."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from pytest_audiollm.benchmarks.spec import load_spec

        return list(build_items(self, [load_spec(self.path)], owner=self.nodeid))


class RegisteredBenchmark(_SpecErrorsAsText):
    """A benchmark named with --audiollm-benchmark NAME, from the benchmark registry."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from pytest_audiollm.benchmarks.spec import load_spec

        state = self.config.stash[state_key]
        path = self.config.invocation_params.dir / self.name
        if self.name not in state.benchmarks and path.suffix in (".yaml", ".yml") and path.is_file():
            specs = [load_spec(path)]
        else:
            specs = state.benchmarks.specs(self.name)
        return list(build_items(self, specs, owner=self.nodeid))


def restore_gate_samples(items: list[pytest.Item]) -> None:
    """Put back the samples of a selected gate whose samples were all left out (``--lf`` after a failed gate).

    A gate aggregates its samples; re-running a failed gate alone would measure nothing.
    """
    present = {item.stash[case_key].run_key for item in items if case_key in item.stash}
    for index in range(len(items) - 1, -1, -1):
        gate = items[index].stash.get(gate_key, None)
        parent = items[index].parent
        if gate is None or gate.run_key in present or parent is None:
            continue
        samples = parent.stash.get(run_items_key, {}).get(gate.run_key, [])
        first = next(
            i for i, item in enumerate(items) if (g := item.stash.get(gate_key, None)) and g.run_key == gate.run_key
        )
        items[first:first] = samples
        present.add(gate.run_key)


def model_of(item: pytest.Item) -> str | None:
    case = item.stash.get(case_key, None)
    if case is not None:
        return case.model
    gate = item.stash.get(gate_key, None)
    return gate.model if gate is not None else None


def order_items(items: list[pytest.Item], models: Sequence[str]) -> None:
    """Stable-sort our items by model (in command-line order) inside the slots they occupy."""
    rank = {name: i for i, name in enumerate(models)}
    slots = [i for i, item in enumerate(items) if model_of(item) is not None]
    ours = sorted((items[i] for i in slots), key=lambda item: rank.get(model_of(item) or "", len(rank)))
    for slot, item in zip(slots, ours, strict=True):
        items[slot] = item
