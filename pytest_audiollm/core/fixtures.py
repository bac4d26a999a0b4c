"""The fixtures of Python tests marked ``@pytest.mark.audiollm(benchmark=...)`` (and of benchmark items)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_audiollm.core.state import case_key, state_key
from pytest_audiollm.models.protocol import Subject
from pytest_audiollm.sample import Sample
from pytest_audiollm.tasks.cases import Case

__all__ = ["audiollm_case", "audiollm_model", "audiollm_prediction", "audiollm_sample"]


def case_of(node: pytest.Item, param: Any = None) -> Case:
    case: Case | None = node.stash.get(case_key, None) or param
    if case is None:
        raise pytest.UsageError(
            f"{node.nodeid} uses the audiollm fixtures but is not an audiollm sample: mark it with "
            "@pytest.mark.audiollm(benchmark=NAME) and run with --audiollm-model"
        )
    return case


@pytest.fixture
def audiollm_case(request: pytest.FixtureRequest) -> Case:
    """The (model, benchmark, sample) this item evaluates."""
    return case_of(request.node, getattr(request, "param", None))


@pytest.fixture
def audiollm_sample(audiollm_case: Case) -> Sample:
    """The benchmark Sample of this item (id, audio reference, references, prompt, meta)."""
    return audiollm_case.sample


@pytest.fixture
def audiollm_model(request: pytest.FixtureRequest, audiollm_case: Case) -> Subject | None:
    """The loaded model of this item (loaded once per process, unloaded after its last item); None for a folder
    of generated audio."""
    from pytest_audiollm.core.items import setup_failure

    state = request.config.stash[state_key]
    if not audiollm_case.loads_subject:
        return None
    failure = setup_failure(state, audiollm_case)
    if failure is not None:
        if failure.status == "skipped":
            pytest.skip(failure.message)
        pytest.fail(failure.message, pytrace=False)
    assert state.pool is not None
    return state.pool.sessions[audiollm_case.model].model


@pytest.fixture
def audiollm_prediction(request: pytest.FixtureRequest, audiollm_case: Case, audiollm_model: Subject | None) -> str:
    """The model's output for this item's sample (text; for a generator, the generated file's path), batched with
    upcoming samples; a sample or model error fails the test."""
    state = request.config.stash[state_key]
    assert state.context is not None
    record = state.kinds.get(audiollm_case.spec.kind).run_sample(audiollm_case, state.context)
    if record.status != "passed":
        pytest.fail(record.message or f"{record.error_kind} error: {record.error}", pytrace=False)
    return str(record.prediction)
