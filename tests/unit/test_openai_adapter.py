"""The openai: adapter against a real OpenAI-compatible HTTP server started on 127.0.0.1 by each test."""

from __future__ import annotations

import json
import socket
import time

import pytest
from openai_server import MODEL, SECRET, FakeServer, openai_model, tone_request

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.adapters.openai_compatible import (
    RemoteModelError,
    openai_factory,
    parse_target,
)
from pytest_audiollm.models.protocol import ModelOptions

pytestmark = pytest.mark.usefixtures("openai_env")  # no proxy, key or base URL from the environment


def test_batch_in_order_with_bounded_concurrency() -> None:
    with FakeServer(overlap=2) as fake:
        model = openai_model(fake.base_url, concurrency=2)
        model.load("cpu")
        requests = [tone_request(1000 * (i + 1) + i, prompt=f"p{i}") for i in range(5)]
        outputs = model.predict(requests)
    assert outputs == [f"{1000 * (i + 1) + i} frames @ 16000: p{i}" for i in range(5)]
    assert fake.max_in_flight == 2
    assert len(fake.posts) == 5
    body = fake.posts[0]
    assert body["seed"] == 7 and body["max_tokens"] == 256 and body["model"] == MODEL
    assert fake.auth_headers == [None] * 5  # no key configured: no Authorization header


def test_request_sample_rate_is_kept(chat_server: FakeServer) -> None:
    assert openai_model(chat_server.base_url).predict([tone_request(800, "x", rate=8000)]) == ["800 frames @ 8000: x"]
    assert openai_model(chat_server.base_url).predict([]) == []


def test_5xx_is_retried(chat_server: FakeServer) -> None:
    chat_server.script = [("status", 500, {}, {"error": {"message": "boom"}}), ("status", 503, {}, b"busy")]
    assert openai_model(chat_server.base_url).predict([tone_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert len(chat_server.posts) == 3


def test_429_honours_retry_after(chat_server: FakeServer) -> None:
    chat_server.script = [("status", 429, {"Retry-After": "1"}, {"error": {"message": "slow down"}})]
    start = time.monotonic()
    assert openai_model(chat_server.base_url).predict([tone_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert time.monotonic() - start >= 0.95
    assert chat_server.post_times[1] - chat_server.post_times[0] >= 0.95


def test_hang_past_timeout_is_retried(chat_server: FakeServer) -> None:
    chat_server.script = [("hang", 1.5)]
    start = time.monotonic()
    assert openai_model(chat_server.base_url, timeout_s=0.5).predict([tone_request(100)]) == [
        "100 frames @ 16000: what is this?"
    ]
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 1.4
    assert len(chat_server.posts) == 2


def test_400_is_not_retried_and_its_message_surfaces(chat_server: FakeServer) -> None:
    message = "audio input is not supported by this model " + "x" * 2000
    chat_server.script = [("status", 400, {}, {"error": {"message": message, "type": "BadRequestError"}})]
    with pytest.raises(RemoteModelError) as info:
        openai_model(chat_server.base_url).predict([tone_request(100)])
    text = str(info.value)
    assert "audio input is not supported by this model" in text
    assert "400" in text and f"{chat_server.base_url}/chat/completions" in text
    assert len(text) < 1000  # truncated
    assert info.value.status == 400
    assert len(chat_server.posts) == 1


def test_exhausted_retries_name_status_and_url(chat_server: FakeServer) -> None:
    chat_server.script = [("status", 503, {}, {"error": {"message": "overloaded"}})] * 10
    with pytest.raises(RemoteModelError) as info:
        openai_model(chat_server.base_url, max_retries=2).predict([tone_request(100)])
    text = str(info.value)
    assert "503" in text and "overloaded" in text and "3 attempt" in text
    assert f"{chat_server.base_url}/chat/completions" in text
    assert len(chat_server.posts) == 3


def test_one_failure_fails_the_batch(chat_server: FakeServer) -> None:
    chat_server.script = ["ok", ("status", 404, {}, {"error": {"message": f"The model `{MODEL}` does not exist."}})]
    with pytest.raises(RemoteModelError, match="does not exist"):
        openai_model(chat_server.base_url, concurrency=1).predict(
            [tone_request(100), tone_request(200), tone_request(300)]
        )
    assert len(chat_server.posts) == 2


def test_api_key_is_sent_but_never_shown(chat_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    model = openai_model(chat_server.base_url, api_key_env="MY_KEY", max_retries=1)
    model.load("cpu")
    assert model.predict([tone_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert chat_server.auth_headers == [f"Bearer {SECRET}"]
    shown = [repr(model), str(model), model.fingerprint(), repr(vars(model))]
    # a server echoing the key in its errors (retried and not retried) must not leak it either
    echo = {"error": {"message": f"key {SECRET} rejected"}}
    chat_server.script = [("status", 401, {}, echo)]
    with pytest.raises(RemoteModelError) as unauthorized:
        model.predict([tone_request(100)])
    chat_server.script = [("status", 500, {}, echo)] * 2
    with pytest.raises(RemoteModelError) as exhausted:
        model.predict([tone_request(100)])
    shown += [str(unauthorized.value), repr(unauthorized.value), str(exhausted.value), repr(exhausted.value)]
    assert "rejected" in str(unauthorized.value)
    for text in shown:
        assert SECRET not in text


def test_default_key_env(chat_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    openai_model(chat_server.base_url).predict([tone_request(10)])
    assert chat_server.auth_headers == [f"Bearer {SECRET}"]


def test_load_and_fingerprint(chat_server: FakeServer) -> None:
    model = openai_model(chat_server.base_url)
    assert model.memory_estimate() == 0
    assert model.cpu_only is True
    assert model.sample_rate == 16000
    model.load("cpu")
    assert model.fingerprint() == (
        f"openai:{MODEL}@{chat_server.base_url}[created=1700000000,id={MODEL},owned_by=vllm]"
    )
    assert chat_server.model_gets == 1
    assert openai_model(chat_server.base_url, sample_rate=24000).sample_rate == 24000


def test_load_tolerates_missing_models_route() -> None:
    with FakeServer(models_status=404) as fake:
        model = openai_model(fake.base_url)
        model.load("cpu")
        assert model.fingerprint() == f"openai:{MODEL}@{fake.base_url}"
        assert model.predict([tone_request(10)]) == ["10 frames @ 16000: what is this?"]


def test_load_connection_refused_names_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    model = openai_model(base)
    with pytest.raises(RemoteModelError, match="cannot reach the server") as info:
        model.load("cpu")
    assert f"{base}/models" in str(info.value)
    assert model.fingerprint() == f"openai:{MODEL}@{base}"  # unreachable: the plain form


def test_connection_refused_on_predict_is_retried_then_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteModelError, match="connection error") as info:
        openai_model(f"http://127.0.0.1:{port}/v1", max_retries=1).predict([tone_request(10)])
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in str(info.value)


def test_target_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_target(f"{MODEL}@http://gpu-box:8000/v1/") == (MODEL, "http://gpu-box:8000/v1")
    assert parse_target("m@https://u:p@host/v1") == ("m", "https://u:p@host/v1")
    with pytest.raises(AudioLLMError, match="OPENAI_BASE_URL"):
        openai_factory(ModelOptions(name="openai:gpt-4o-audio", target="gpt-4o-audio"))
    with pytest.raises(AudioLLMError, match="not an http"):
        parse_target("m@gpu-box:8000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    model = openai_factory(ModelOptions(name="openai:gpt-4o-audio", target="gpt-4o-audio"))
    assert (model.model, model.base_url) == ("gpt-4o-audio", "http://example.invalid/v1")
    with pytest.raises(AudioLLMError, match="max_tokens"):
        openai_factory(ModelOptions(name="openai:m", target="m", extra={"max_tokens": "zero"}))


def test_url_credentials_are_not_shown() -> None:
    model = openai_model("http://user:hunter2@127.0.0.1:9/v1")
    assert "hunter2" not in repr(model)
    assert "hunter2" not in model.fingerprint()


def test_a_served_model_through_a_real_pytest_session(chat_server: FakeServer, pytester: pytest.Pytester) -> None:
    """`--audiollm-model openai:MODEL@URL` on the bundled demo: every sample goes over HTTP, answers are scored."""
    result = pytester.runpytest(
        "--audiollm-model", f"openai:{MODEL}@{chat_server.base_url}", "--audiollm-benchmark", "demo-classification",
        "--audiollm-limit", "4", "--audiollm-batch-size", "2", "--audiollm-model-arg", "concurrency=2",
        "--audiollm-results", "r.json",
    )  # fmt: skip
    result.assert_outcomes(passed=5, failed=1)  # the echo server names no class: the accuracy gate fails
    assert len(chat_server.posts) == 4 + 1  # four samples and the warm-up
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    assert run["model"].startswith("openai:") and "16000 frames @ 16000" in run["samples"][0]["prediction"]


def test_concurrency_is_used_even_with_the_default_batch_size(pytester: pytest.Pytester) -> None:
    """The adapter asks for batches of at least `concurrency`: batch size 1 does not serialise the requests."""
    with FakeServer(overlap=3) as fake:
        result = pytester.runpytest(
            "--audiollm-model", f"openai:{MODEL}@{fake.base_url}", "--audiollm-benchmark", "demo-classification",
            "--audiollm-limit", "6", "--audiollm-model-arg", "concurrency=3",
        )  # fmt: skip
        result.assert_outcomes(passed=7, failed=1)  # 6 samples, macro_f1 passes, accuracy fails (echo server)
        assert fake.max_in_flight == 3 and len(fake.posts) == 6 + 1
