"""``@pytest.mark.audiollm(benchmark=...)``: parametrize a Python test over a benchmark's samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_audiollm.core.state import state_key
from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.tasks.cases import Case

__all__ = ["parametrize_marked"]


def parametrize_marked(metafunc: pytest.Metafunc, marker: pytest.Mark) -> None:
    from pytest_audiollm.benchmarks.spec import load_spec
    from pytest_audiollm.core.collection import NEEDS_MODEL, selected_subjects, validate_spec

    state = metafunc.config.stash[state_key]
    unknown = set(marker.kwargs) - {"benchmark"}
    benchmark = marker.kwargs.get("benchmark", marker.args[0] if marker.args else None)
    if unknown or not isinstance(benchmark, str):
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: use @pytest.mark.audiollm(benchmark='NAME_OR_YAML_PATH')"
            + (f"; unknown arguments: {', '.join(sorted(unknown))}" if unknown else "")
        )
    owner = metafunc.definition.nodeid
    cases, ids = [], []
    try:
        path = Path(metafunc.definition.path).parent / benchmark
        specs = [load_spec(path, state.kinds)] if path.is_file() else state.benchmarks.specs(benchmark, state.kinds)
        subjects = selected_subjects(state)
        for spec in specs:
            validate_spec(spec, state)
            for planned in state.kinds.get(spec.kind).plan(spec, subjects, state.settings.limit):
                for sample in planned.samples:
                    cases.append(Case(model=planned.subject, spec=spec, sample=sample, owner=owner,
                                      loads_subject=planned.loads_subject))  # fmt: skip
                    ids.append(
                        f"{planned.subject}::{sample.id}" if len(specs) == 1
                        else f"{planned.subject}::{spec.name}.{sample.id}"
                    )  # fmt: skip
    except AudioLLMError as exc:
        raise pytest.UsageError(f"{owner}: pytest-audiollm: {exc}") from None
    if not cases and not state.settings.models:
        state.extra.setdefault(NEEDS_MODEL, []).append(owner)
    metafunc.parametrize("audiollm_case", cases, ids=ids, indirect=True)
