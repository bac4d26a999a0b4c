"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for the ``openai:`` adapter's tests."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from pytest_audiollm.models.adapters.openai_compatible import OpenAICompatibleModel, openai_factory
from pytest_audiollm.models.protocol import ModelOptions, Request
from pytest_audiollm.sample import Sample

MODEL = "Qwen/Qwen2-Audio-7B-Instruct"
SECRET = "sk-test-very-secret-0123456789"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class FakeServer:
    """A chat-completions server; ``script`` lists what successive POSTs do (then they answer normally).

    Script entries: ``"ok"``, ``("status", code, headers, body)``, ``("hang", seconds)`` (sleep, then answer),
    ``("trickle", size, interval)`` (a 200 announcing ``size`` bytes, then one byte every ``interval`` seconds)
    or ``("huge", size[, "chunked"])`` (a 200 whose ``size``-byte body is made as it is sent, never held in memory;
    with ``"chunked"`` its length is not announced).
    A normal answer is ``"<frames> frames @ <rate>: <prompt>"`` after checking the request body's shape.
    Every request is logged in ``requests`` as (method, path, Authorization header).
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
        self.requests: list[tuple[str, str, str | None]] = []
        self.posts: list[dict[str, Any]] = []
        self.post_times: list[float] = []
        self.auth_headers: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.model_gets = 0
        self.sent_bytes = 0  # body bytes of "trickle" and "huge" answers actually written
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

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

            def _log(self) -> None:
                with server.lock:
                    server.requests.append((self.command, self.path, self.headers.get("Authorization")))

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

            def _stream(self, size: int, chunks: Iterator[bytes], interval: float = 0.0, chunked: bool = False) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    if chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(size))
                    self.end_headers()
                    self.wfile.flush()
                    for chunk in chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                        self.wfile.flush()
                        with server.lock:
                            server.sent_bytes += len(chunk)
                        if interval:
                            time.sleep(interval)
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client hung up: what the size cap and the deadline are for
                self.close_connection = True

            def do_GET(self) -> None:
                self._log()
                with server.lock:
                    server.model_gets += 1
                path = self.path.partition("?")[0]
                if path != "/v1/models" or server.models_status != 200:
                    self._reply(server.models_status if path == "/v1/models" else 404, {"error": "no"})
                    return
                entry = {"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "vllm"}
                self._reply(200, {"object": "list", "data": [{"id": "other"}, entry]})

            def do_POST(self) -> None:
                self._log()
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
                if self.path.partition("?")[0] != "/v1/chat/completions":
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    _, code, headers, payload = action
                    self._reply(code, payload, headers)
                    return
                if isinstance(action, tuple) and action[0] == "trickle":
                    _, size, interval = action
                    self._stream(size, (b" " for _ in range(size)), interval)
                    return
                if isinstance(action, tuple) and action[0] == "huge":
                    self._stream(action[1], _huge_answer(action[1]), chunked=action[2:] == ("chunked",))
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


def _huge_answer(size: int) -> Iterator[bytes]:
    """A chat completion of exactly ``size`` bytes whose content is one long run of ``a``, made 64 KiB at a time."""
    head, tail = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "', b'"}}]}'
    yield head
    left = size - len(head) - len(tail)
    block = b"a" * 65536
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)
    yield tail


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


def clean_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy (requests go to 127.0.0.1 directly), no API key and no base URL from the machine's environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def openai_model(base_url: str, **extra: Any) -> OpenAICompatibleModel:
    """The adapter pointed at ``base_url`` (fast backoff, timeout_s=5 unless given)."""
    settings: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5, **extra}
    target = f"{MODEL}@{base_url}"
    return openai_factory(ModelOptions(name=f"openai:{target}", target=target, seed=7, extra=settings))


def tone_request(frames: int, prompt: str = "what is this?", rate: int = 16000) -> Request:
    """A request holding ``frames`` frames of a quiet sine at ``rate``."""
    audio = (0.1 * np.sin(np.arange(frames, dtype=np.float32) / 10)).astype(np.float32)
    return Request(
        audio=audio, sample_rate=rate, prompt=prompt, sample=Sample(id=f"s{frames}", audio=None, references=())
    )
