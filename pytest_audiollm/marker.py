"""``@pytest.mark.audiollm(benchmark=...)``: parametrize a Python test over a benchmark's samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_audiollm.cases import Case
from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.state import state_key


def parametrize_marked(metafunc: pytest.Metafunc, marker: pytest.Mark) -> None:
    from pytest_audiollm.benchmarks.sources import list_samples
    from pytest_audiollm.benchmarks.spec import load_spec
    from pytest_audiollm.collection import validate_spec

    state = metafunc.config.stash[state_key]
    unknown = set(marker.kwargs) - {"benchmark"}
    benchmark = marker.kwargs.get("benchmark", marker.args[0] if marker.args else None)
    if unknown or not isinstance(benchmark, str):
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: use @pytest.mark.audiollm(benchmark='NAME_OR_YAML_PATH')"
            + (f"; unknown arguments: {', '.join(sorted(unknown))}" if unknown else "")
        )
    owner = metafunc.definition.nodeid
    try:
        path = Path(metafunc.definition.path).parent / benchmark
        specs = [load_spec(path)] if path.is_file() else state.benchmarks.specs(benchmark)
        cases, ids = [], []
        for spec in specs:
            validate_spec(spec, state)
            samples = list_samples(spec.data, spec.name, state.settings.limit)
            for model in state.settings.models:
                for sample in samples:
                    cases.append(Case(model=model, spec=spec, sample=sample, owner=owner))
                    ids.append(f"{model}::{sample.id}" if len(specs) == 1 else f"{model}::{spec.name}.{sample.id}")
    except AudioLLMError as exc:
        raise pytest.UsageError(f"{owner}: pytest-audiollm: {exc}") from None
    if not state.settings.models:
        cases, ids = [], []
    metafunc.parametrize("audiollm_case", cases, ids=ids, indirect=True)
