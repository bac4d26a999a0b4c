"""The openai: adapter against a real OpenAI-compatible HTTP server started on 127.0.0.1 by each test."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.adapters.openai_compatible import (
    OpenAICompatibleModel,
    RemoteModelError,
    openai_factory,
    parse_target,
)
from pytest_audiollm.models.protocol import ModelOptions, Request
from pytest_audiollm.sample import Sample

MODEL = "Qwen/Qwen2-Audio-7B-Instruct"
SECRET = "sk-test-very-secret-0123456789"


class FakeServer:
    """A chat-completions server; ``script`` lists what successive POSTs do (then they answer normally).

    Script entries: ``"ok"``, ``("status", code, headers, body)`` or ``("hang", seconds)`` (sleep, then answer).
    A normal answer is ``"<frames> frames @ <rate>: <prompt>"`` after checking the request body's shape.
    """

    def __init__(
        self, script: list[Any] | None = None, models_status: int = 200, delay: float = 0.0, overlap: int = 0
    ) -> None:
        self.script = list(script or [])
        self.models_status = models_status
        self.delay = delay
        # overlap=N: a request waits (up to 2 s) until N requests are in flight, so a client that sends N at once is
        # seen doing so however loaded the machine is (a fixed delay let busy schedulers serialise them)
        self.overlap = overlap
        self.lock = threading.Lock()
        self.overlapping = threading.Condition(self.lock)
        self.posts: list[dict[str, Any]] = []
        self.post_times: list[float] = []
        self.auth_headers: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.model_gets = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def next_action(self, body: dict[str, Any], auth: str | None) -> Any:
        with self.lock:
            self.posts.append(body)
            self.post_times.append(time.monotonic())
            self.auth_headers.append(auth)
            return self.script.pop(0) if self.script else "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_GET(self) -> None:
                with server.lock:
                    server.model_gets += 1
                if self.path != "/v1/models" or server.models_status != 200:
                    self._reply(server.models_status if self.path == "/v1/models" else 404, {"error": "no"})
                    return
                entry = {"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "vllm"}
                self._reply(200, {"object": "list", "data": [{"id": "other"}, entry]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                action = server.next_action(body, self.headers.get("Authorization"))
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.overlapping.notify_all()
                    if server.overlap:
                        server.overlapping.wait_for(lambda: server.in_flight >= server.overlap, timeout=2.0)
                try:
                    self._handle(action, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _handle(self, action: Any, body: dict[str, Any]) -> None:
                if self.path != "/v1/chat/completions":
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    _, code, headers, payload = action
                    self._reply(code, payload, headers)
                    return
                if isinstance(action, tuple) and action[0] == "hang":
                    time.sleep(action[1])
                if server.delay:
                    time.sleep(server.delay)
                try:
                    answer = _answer(body)
                except (AssertionError, KeyError, ValueError, wave.Error) as exc:
                    self._reply(422, {"error": {"message": f"bad request body: {exc!r}"}})
                    return
                self._reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})

        return Handler

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _answer(body: dict[str, Any]) -> str:
    """Check the body is the chat-completions shape the adapter promises; answer with the audio's length."""
    assert body["model"] == MODEL
    assert body["temperature"] == 0
    assert isinstance(body["max_tokens"], int)
    assert "seed" in body
    (message,) = body["messages"]
    assert message["role"] == "user"
    audio_part, text_part = message["content"]
    assert audio_part["type"] == "input_audio"
    assert audio_part["input_audio"]["format"] == "wav"
    assert text_part["type"] == "text"
    wav = base64.b64decode(audio_part["input_audio"]["data"], validate=True)
    with wave.open(io.BytesIO(wav)) as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        frames, rate = reader.getnframes(), reader.getframerate()
    return f"  {frames} frames @ {rate}: {text_part['text']}\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _model(base_url: str, **extra: Any) -> OpenAICompatibleModel:
    settings: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5, **extra}
    target = f"{MODEL}@{base_url}"
    return openai_factory(ModelOptions(name=f"openai:{target}", target=target, seed=7, extra=settings))


def _request(frames: int, prompt: str = "what is this?", rate: int = 16000) -> Request:
    audio = (0.1 * np.sin(np.arange(frames, dtype=np.float32) / 10)).astype(np.float32)
    return Request(
        audio=audio, sample_rate=rate, prompt=prompt, sample=Sample(id=f"s{frames}", audio=None, references=())
    )


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def test_batch_in_order_with_bounded_concurrency() -> None:
    with FakeServer(overlap=2) as fake:
        model = _model(fake.base_url, concurrency=2)
        model.load("cpu")
        requests = [_request(1000 * (i + 1) + i, prompt=f"p{i}") for i in range(5)]
        outputs = model.predict(requests)
    assert outputs == [f"{1000 * (i + 1) + i} frames @ 16000: p{i}" for i in range(5)]
    assert fake.max_in_flight == 2
    assert len(fake.posts) == 5
    body = fake.posts[0]
    assert body["seed"] == 7 and body["max_tokens"] == 256 and body["model"] == MODEL
    assert fake.auth_headers == [None] * 5  # no key configured: no Authorization header


def test_request_sample_rate_is_kept(server: FakeServer) -> None:
    assert _model(server.base_url).predict([_request(800, "x", rate=8000)]) == ["800 frames @ 8000: x"]
    assert _model(server.base_url).predict([]) == []


def test_5xx_is_retried(server: FakeServer) -> None:
    server.script = [("status", 500, {}, {"error": {"message": "boom"}}), ("status", 503, {}, b"busy")]
    assert _model(server.base_url).predict([_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert len(server.posts) == 3


def test_429_honours_retry_after(server: FakeServer) -> None:
    server.script = [("status", 429, {"Retry-After": "1"}, {"error": {"message": "slow down"}})]
    start = time.monotonic()
    assert _model(server.base_url).predict([_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert time.monotonic() - start >= 0.95
    assert server.post_times[1] - server.post_times[0] >= 0.95


def test_hang_past_timeout_is_retried(server: FakeServer) -> None:
    server.script = [("hang", 1.5)]
    start = time.monotonic()
    assert _model(server.base_url, timeout_s=0.5).predict([_request(100)]) == ["100 frames @ 16000: what is this?"]
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 1.4
    assert len(server.posts) == 2


def test_400_is_not_retried_and_its_message_surfaces(server: FakeServer) -> None:
    message = "audio input is not supported by this model " + "x" * 2000
    server.script = [("status", 400, {}, {"error": {"message": message, "type": "BadRequestError"}})]
    with pytest.raises(RemoteModelError) as info:
        _model(server.base_url).predict([_request(100)])
    text = str(info.value)
    assert "audio input is not supported by this model" in text
    assert "400" in text and f"{server.base_url}/chat/completions" in text
    assert len(text) < 1000  # truncated
    assert info.value.status == 400
    assert len(server.posts) == 1


def test_exhausted_retries_name_status_and_url(server: FakeServer) -> None:
    server.script = [("status", 503, {}, {"error": {"message": "overloaded"}})] * 10
    with pytest.raises(RemoteModelError) as info:
        _model(server.base_url, max_retries=2).predict([_request(100)])
    text = str(info.value)
    assert "503" in text and "overloaded" in text and "3 attempt" in text
    assert f"{server.base_url}/chat/completions" in text
    assert len(server.posts) == 3


def test_one_failure_fails_the_batch(server: FakeServer) -> None:
    server.script = ["ok", ("status", 404, {}, {"error": {"message": f"The model `{MODEL}` does not exist."}})]
    with pytest.raises(RemoteModelError, match="does not exist"):
        _model(server.base_url, concurrency=1).predict([_request(100), _request(200), _request(300)])
    assert len(server.posts) == 2


def test_api_key_is_sent_but_never_shown(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    model = _model(server.base_url, api_key_env="MY_KEY", max_retries=1)
    model.load("cpu")
    assert model.predict([_request(100)]) == ["100 frames @ 16000: what is this?"]
    assert server.auth_headers == [f"Bearer {SECRET}"]
    shown = [repr(model), str(model), model.fingerprint(), repr(vars(model))]
    # a server echoing the key in its errors (retried and not retried) must not leak it either
    echo = {"error": {"message": f"key {SECRET} rejected"}}
    server.script = [("status", 401, {}, echo)]
    with pytest.raises(RemoteModelError) as unauthorized:
        model.predict([_request(100)])
    server.script = [("status", 500, {}, echo)] * 2
    with pytest.raises(RemoteModelError) as exhausted:
        model.predict([_request(100)])
    shown += [str(unauthorized.value), repr(unauthorized.value), str(exhausted.value), repr(exhausted.value)]
    assert "rejected" in str(unauthorized.value)
    for text in shown:
        assert SECRET not in text


def test_default_key_env(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    _model(server.base_url).predict([_request(10)])
    assert server.auth_headers == [f"Bearer {SECRET}"]


def test_load_and_fingerprint(server: FakeServer) -> None:
    model = _model(server.base_url)
    assert model.memory_estimate() == 0
    assert model.cpu_only is True
    assert model.sample_rate == 16000
    model.load("cpu")
    assert model.fingerprint() == (f"openai:{MODEL}@{server.base_url}[created=1700000000,id={MODEL},owned_by=vllm]")
    assert server.model_gets == 1
    assert _model(server.base_url, sample_rate=24000).sample_rate == 24000


def test_load_tolerates_missing_models_route() -> None:
    with FakeServer(models_status=404) as fake:
        model = _model(fake.base_url)
        model.load("cpu")
        assert model.fingerprint() == f"openai:{MODEL}@{fake.base_url}"
        assert model.predict([_request(10)]) == ["10 frames @ 16000: what is this?"]


def test_load_connection_refused_names_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    model = _model(base)
    with pytest.raises(RemoteModelError, match="cannot reach the server") as info:
        model.load("cpu")
    assert f"{base}/models" in str(info.value)
    assert model.fingerprint() == f"openai:{MODEL}@{base}"  # unreachable: the plain form


def test_connection_refused_on_predict_is_retried_then_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteModelError, match="connection error") as info:
        _model(f"http://127.0.0.1:{port}/v1", max_retries=1).predict([_request(10)])
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
    model = _model("http://user:hunter2@127.0.0.1:9/v1")
    assert "hunter2" not in repr(model)
    assert "hunter2" not in model.fingerprint()


def test_a_served_model_through_a_real_pytest_session(server: FakeServer, pytester: pytest.Pytester) -> None:
    """`--audiollm-model openai:MODEL@URL` on the bundled demo: every sample goes over HTTP, answers are scored."""
    result = pytester.runpytest(
        "--audiollm-model", f"openai:{MODEL}@{server.base_url}", "--audiollm-benchmark", "demo-classification",
        "--audiollm-limit", "4", "--audiollm-batch-size", "2", "--audiollm-model-arg", "concurrency=2",
        "--audiollm-results", "r.json",
    )  # fmt: skip
    result.assert_outcomes(passed=5, failed=1)  # the echo server names no class: the accuracy gate fails
    assert len(server.posts) == 4 + 1  # four samples and the warm-up
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
