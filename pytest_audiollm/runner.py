"""What sample and gate items do when they run, and the fixtures they (and users' tests) use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.errors import BudgetExceeded, MissingDependency
from pytest_audiollm.scoring import evaluate_gate, score_sample
from pytest_audiollm.state import case_key, gate_key, gate_result_key, row_key, state_key

if TYPE_CHECKING:
    from pytest_audiollm.cases import Case
    from pytest_audiollm.models.protocol import AudioModel
    from pytest_audiollm.predictor import Outcome


def case_of(node: pytest.Item, param: Any = None) -> Case:
    case: Case | None = node.stash.get(case_key, None) or param
    if case is None:
        raise pytest.UsageError(
            f"{node.nodeid} uses the audiollm fixtures but is not an audiollm sample: mark it with "
            "@pytest.mark.audiollm(benchmark=NAME) and run with --audiollm-model"
        )
    return case


def acquire_model(node: pytest.Item, case: Case, *, record: bool = False) -> AudioModel:
    """Load (once) the model of ``case``; skip or fail the item when it cannot be loaded.

    With ``record``, a sample item that cannot run still leaves a results row saying why.
    """
    state = node.config.stash[state_key]
    assert state.pool is not None
    try:
        session = state.pool.acquire(case.model)
    except Exception as exc:
        if record:
            _not_run(node, case, str(exc))
        if isinstance(exc, MissingDependency) or (isinstance(exc, BudgetExceeded) and not state.settings.strict):
            _skip(str(exc))
        suffix = " (--audiollm-strict)" if isinstance(exc, BudgetExceeded) else ""
        pytest.fail(f"{exc}{suffix}", pytrace=False)
    assert session.model is not None
    return session.model


def _not_run(node: pytest.Item, case: Case, reason: str) -> None:
    """The results row of a sample whose model could not be loaded."""
    state = node.config.stash[state_key]
    row = node.stash[row_key] = {
        "index": state.plan.position.get(id(case), 0),
        "id": case.sample.id,
        "model": case.model,
        "benchmark": case.spec.name,
        "owner": case.owner,
        "nodeid": node.nodeid,
        "prediction": None,
        "references": list(case.sample.references),
        "scores": {},
        "stats": {},
        "score_errors": {},
        "error": reason,
        "error_kind": "setup",
        "latency_s": 0.0,
        "audio": {},
    }
    state.rows[case.run_key].append(row)  # its gates then say why they have nothing to aggregate


def predict_case(node: pytest.Item, case: Case) -> Outcome:
    state = node.config.stash[state_key]
    assert state.pool is not None and state.predictor is not None
    return state.predictor.outcome(case, state.pool.sessions[case.model])


def run_sample_item(item: pytest.Item) -> None:
    state = item.config.stash[state_key]
    case = item.stash[case_key]
    if case.spec.task == "generation":
        from pytest_audiollm.generation.items import run_generation_item

        return run_generation_item(item)
    acquire_model(item, case, record=True)
    outcome = predict_case(item, case)
    row = score_sample(case, outcome, state.metrics)
    row["nodeid"] = item.nodeid
    row["index"] = state.plan.position.get(id(case), 0)
    state.rows[case.run_key].append(row)
    item.stash[row_key] = row
    props = item.user_properties
    props.append(("audiollm.model", case.model))
    props.append(("audiollm.benchmark", case.spec.name))
    props.append(("audiollm.sample", case.sample.id))
    if outcome.prediction is not None:
        props.append(("audiollm.prediction", outcome.prediction))
    props.append(("audiollm.references", " | ".join(case.sample.references)))
    for name, value in row["scores"].items():
        props.append((f"audiollm.score.{name}", _fmt(value)))
    props.append(("audiollm.latency_s", _fmt(outcome.latency_s)))
    truncated = outcome.audio.get("truncated_s", 0.0)
    if truncated:
        props.append(("audiollm.truncated_s", _fmt(truncated)))
    if outcome.error:
        props.append(("audiollm.error", outcome.error))
        what = {"data": "sample", "model": "model", "output": "model output"}.get(outcome.error_kind or "", "")
        pytest.fail(f"{what} error: {outcome.error}", pytrace=False)
    failed = []
    for name, condition in case.spec.sample_thresholds.items():
        value = row["scores"].get(name)
        if value is None or not condition.holds(value, (value, value)):
            failed.append(f"{name} = {value if value is None else _fmt(value)}, expected {condition}")
    if failed:
        pytest.fail(
            f"per-sample threshold: {'; '.join(failed)} (prediction: {outcome.prediction!r:.200})", pytrace=False
        )


def run_gate_item(item: pytest.Item) -> None:
    state = item.config.stash[state_key]
    gate = item.stash[gate_key]
    if gate.spec.task == "generation":
        from pytest_audiollm.generation.items import run_generation_gate

        return run_generation_gate(item)
    rows = state.rows.get(gate.run_key, [])
    verdict = evaluate_gate(
        gate,
        rows,
        state.plan.expected(gate.run_key),
        state.metrics,
        seed=state.settings.seed,
        resamples=state.settings.bootstrap,
    )
    result = dict(
        verdict.result,
        model=gate.model,
        benchmark=gate.spec.name,
        owner=gate.owner,
        benchmark_version=gate.spec.version,
        task=gate.spec.task,
        message=verdict.message,
    )
    spec = gate.spec
    result["scoring"] = {  # what a later comparison needs to recompute the metrics (results, baselines)
        "task": spec.task, "choices": list(spec.choices), "synonyms": {k: list(v) for k, v in spec.synonyms.items()},
        "text_normalizer": spec.text_normalizer, "caption_tokenizer": spec.caption_tokenizer,
    }  # fmt: skip
    if state.pool is not None and gate.model in state.pool.sessions:
        result["model_stats"] = state.pool.sessions[gate.model].stats.to_json()
    comparison = None
    if not verdict.skipped and result["value"] is not None:
        from pytest_audiollm.regression import baseline_comparison

        comparison = baseline_comparison(state, gate, rows)
        if comparison is not None:
            result["baseline"] = comparison
    item.stash[gate_result_key] = result
    props = item.user_properties
    props.append(("audiollm.model", gate.model))
    props.append(("audiollm.benchmark", gate.spec.name))
    props.append(("audiollm.metric", gate.metric))
    if result["value"] is not None:
        props.append(("audiollm.value", _fmt(result["value"])))
        props.append(("audiollm.ci95_low", _fmt(result["ci95"][0])))
        props.append(("audiollm.ci95_high", _fmt(result["ci95"][1])))
    props.append(("audiollm.n", str(result["n"])))
    if gate.condition is not None:
        props.append(("audiollm.threshold", str(gate.condition)))
    if comparison is not None and "value" in comparison and "baseline_value" in comparison:
        props.append(("audiollm.baseline_value", _fmt(comparison["baseline_value"])))
        props.append(("audiollm.baseline_delta", _fmt(comparison["delta"])))
        props.append(("audiollm.baseline_p", _fmt(comparison["p_value"])))
    if verdict.skipped:
        _skip(verdict.message)
    failures = [verdict.message] if verdict.passed is False else []
    if comparison is not None and comparison.get("error"):
        failures.append(f"cannot compare with the baseline: {comparison['error']}")
    elif comparison is not None and comparison.get("regressed"):
        from pytest_audiollm.regression import regression_message

        failures.append(regression_message(comparison))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def _skip(reason: str) -> None:
    """Skip the running item, reported at the item's location (the benchmark file), not at this line."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


# --- fixtures for Python tests marked @pytest.mark.audiollm(benchmark=...) --------------------------------


@pytest.fixture
def audiollm_case(request: pytest.FixtureRequest) -> Case:
    """The (model, benchmark, sample) this item evaluates."""
    return case_of(request.node, getattr(request, "param", None))


@pytest.fixture
def audiollm_sample(audiollm_case: Case) -> Any:
    """The benchmark Sample of this item (id, audio reference, references, prompt, meta)."""
    return audiollm_case.sample


@pytest.fixture
def audiollm_model(request: pytest.FixtureRequest, audiollm_case: Case) -> AudioModel:
    """The loaded model of this item (loaded once per process, unloaded after its last item)."""
    return acquire_model(request.node, audiollm_case)


@pytest.fixture
def audiollm_prediction(request: pytest.FixtureRequest, audiollm_case: Case, audiollm_model: AudioModel) -> str:
    """The model's text output for this item's sample (batched with upcoming samples, cached)."""
    outcome = predict_case(request.node, audiollm_case)
    if outcome.error:
        pytest.fail(f"{outcome.error_kind} error: {outcome.error}", pytrace=False)
    return str(outcome.prediction)
