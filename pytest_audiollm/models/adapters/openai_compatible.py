"""The ``openai:`` model adapter: any OpenAI-compatible chat-completions server (vLLM, SGLang, hosted APIs).

``--audiollm-model openai:MODEL@BASE_URL`` (for example
``openai:Qwen/Qwen2-Audio-7B-Instruct@http://gpu-box:8000/v1``) sends each request to
``BASE_URL/chat/completions``; without ``@BASE_URL`` the base URL is taken from ``$OPENAI_BASE_URL``.
Each request becomes one user turn holding an ``input_audio`` part (a base64 16-bit PCM WAV of the request's
audio at its sample rate) and a text part (the prompt); the output is ``choices[0].message.content``,
stripped. Settings come from ``ModelOptions.extra`` (``--audiollm-model-arg KEY=VALUE``):

- ``max_tokens`` (default 256), ``temperature`` (default 0); ``options.seed`` is sent as ``seed``;
- ``timeout_s``: the limit of each attempt as a whole, connect to last byte (default 120);
- ``max_response_bytes``: the largest answer read (default 16 MiB); a larger one fails the sample;
- ``max_retries``: retries after the first attempt (default 4) on connection errors, timeouts, 429 and 5xx,
  with exponential backoff from ``backoff_s`` (default 1.0, seeded jitter); a 429's ``Retry-After`` seconds
  are honoured, capped at ``max_retry_after_s`` (default 60); other 4xx are never retried;
- ``concurrency``: requests in flight at once (default 4); batches are at least this large whatever
  ``--audiollm-batch-size`` says, so the default batch size of 1 does not serialise the requests;
- ``api_key_env``: the environment variable holding the API key (default ``OPENAI_API_KEY``; empty: none), sent
  as ``Authorization: Bearer``; it never appears in error messages, ``repr`` or the fingerprint;
- ``sample_rate``: the rate requests are resampled to before sending (default 16000).

A redirect (any 3xx) is never followed: it fails the request, naming the target. ``user:password@`` in the URL
is sent as HTTP Basic auth (not together with an API key); it and the query string's values are shown as ``***``.
What a server writes is shown with its control characters escaped; the answer itself is returned as sent.

Only the standard library is used for HTTP (``urllib.request`` + ``concurrent.futures``, see
:mod:`.openai_transport`); numpy is imported when audio is encoded.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import time
import urllib.error
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_audiollm.errors import AudioLLMError, ModelOutputError
from pytest_audiollm.models.adapters.openai_http import (
    _USER_AGENT,
    Endpoint,
    RemoteModelError,
    _content_text,
    _positive,
    _retry_after,
    _Retryable,
    _server_message,
    encode_wav,
    parse_target,
)
from pytest_audiollm.models.adapters.openai_transport import (
    Answer,
    AnswerTooLarge,
    DeadlinePassed,
    build_opener,
    http_call,
)
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request
from pytest_audiollm.redact import redact_credentials, redact_url

__all__ = ["OpenAICompatibleModel", "RemoteModelError", "encode_wav", "openai_factory", "parse_target"]

_CONNECTION_ERRORS = (OSError, http.client.HTTPException)  # urllib.error.URLError is an OSError


class OpenAICompatibleModel(AudioModel):
    """An audio LLM behind an OpenAI-compatible ``/chat/completions`` endpoint (``openai:MODEL@BASE_URL``)."""

    cpu_only = True  # nothing runs locally

    def __init__(self, options: ModelOptions, env: dict[str, str] | None = None) -> None:
        super().__init__(options)
        environ = os.environ if env is None else env
        self._name = redact_credentials(options.name)  # the engine passes it redacted; a direct caller may not
        target = options.target or options.name.removeprefix("openai:")
        if not target:
            raise AudioLLMError(f"model '{self._name}': openai: needs MODEL@BASE_URL")
        self.model, base_url = parse_target(target, dict(environ))
        self.base_url = redact_url(base_url)  # as shown: user-info and query values are ***
        self.max_tokens = int(_positive(options, "max_tokens", 256, integer=True, minimum=1))
        self.temperature = float(_positive(options, "temperature", 0.0))
        self.timeout_s = float(_positive(options, "timeout_s", 120.0))
        if self.timeout_s <= 0:
            raise AudioLLMError(f"model '{self._name}': timeout_s must be positive")
        self.max_response_bytes = int(_positive(options, "max_response_bytes", 16 * 2**20, integer=True, minimum=1))
        self.max_retries = int(_positive(options, "max_retries", 4, integer=True))
        self.backoff_s = float(_positive(options, "backoff_s", 1.0))
        self.max_retry_after_s = float(_positive(options, "max_retry_after_s", 60.0))
        self.concurrency = int(_positive(options, "concurrency", 4, integer=True, minimum=1))
        self.min_batch_size = self.concurrency  # so --audiollm-batch-size 1 still keeps `concurrency` in flight
        self.sample_rate = int(_positive(options, "sample_rate", 16000, integer=True, minimum=1))
        self.api_key_env = str(options.extra.get("api_key_env", "OPENAI_API_KEY") or "")
        key = environ.get(self.api_key_env, "") if self.api_key_env else ""
        self._endpoint = Endpoint(base_url, key, name=self._name, api_key_env=self.api_key_env)
        self._opener = build_opener()
        self._model_info: dict[str, Any] | None = None
        self._model_info_fetched = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    # -- helpers -------------------------------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        """The base URL as it may be shown (user-info and query values are ``***``)."""
        return self.base_url

    def _url(self, route: str, *, shown: bool = False) -> str:
        return self._endpoint.url(route, shown=shown)

    def _scrub(self, text: str) -> str:
        return self._endpoint.scrub(text)

    def _headers(self, *, json_body: bool) -> dict[str, str]:
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self._endpoint.authorization:
            headers["Authorization"] = self._endpoint.authorization
        return headers

    def _call(self, method: str, route: str, data: bytes | None, timeout_s: float) -> Answer:
        headers = self._headers(json_body=data is not None)
        limit = self.max_response_bytes
        return http_call(self._opener, method, self._url(route), data=data, headers=headers, timeout_s=timeout_s,
                         max_bytes=limit)  # fmt: skip

    def _redirect(self, answer: Answer, method: str, route: str) -> RemoteModelError:
        """The error for a 3xx: where it pointed, why it is not followed, what to do."""
        location = answer.headers.get("Location")
        target = urllib.parse.urljoin(self._url(route), location) if location else ""
        hint = "openai:MODEL@BASE_URL"
        if target.partition("?")[0].endswith(f"/{route}"):
            head, question, query = target.partition("?")
            hint = f"openai:{self.model}@{self._scrub(head[: -len(route) - 1] + question + query)}"
        shown = self._url(route, shown=True)
        return RemoteModelError(
            f"model '{self._name}': {method} {shown} answered a redirect (HTTP {answer.status}) to "
            f"{self._scrub(target) if target else 'no Location'}. Redirects are not followed, because the request "
            f"carries the API key and the audio (and a 301/302/303 would resend it as a GET without them): "
            f"point the model URL at the final address ({hint})",
            url=shown,
            status=answer.status,
        )

    def _too_large(self, exc: AnswerTooLarge, method: str, route: str) -> RemoteModelError:
        shown = self._url(route, shown=True)
        announced = f" (it announced {exc.announced} bytes)" if exc.announced is not None else ""
        return RemoteModelError(
            f"model '{self._name}': {method} {shown} answered more than max_response_bytes={exc.limit} bytes"
            f"{announced}: a chat completion of max_tokens={self.max_tokens} is a few KiB, so this is not the "
            f"answer of a chat-completions server. If it is, raise the cap with --audiollm-model-arg "
            f"max_response_bytes=N",
            url=shown,
        )

    def _timeout(self, timeout_s: float) -> str:
        return (
            f"no complete answer within timeout_s={timeout_s:g} (the limit of the whole request: connect, send, read)"
        )

    # -- lifecycle -----------------------------------------------------------------------------------------

    def memory_estimate(self) -> int:
        return 0  # the model lives on the server

    def _fetch_models(self) -> None:
        """GET ``{base}/models``; keeps this model's entry. Raises RemoteModelError when the server is unreachable."""
        shown = self._url("models", shown=True)
        timeout_s = min(self.timeout_s, 30.0)
        try:
            answer = self._call("GET", "models", None, timeout_s)
        except AnswerTooLarge as exc:
            raise self._too_large(exc, "GET", "models") from None
        except (DeadlinePassed, *_CONNECTION_ERRORS) as exc:
            reason = self._timeout(timeout_s) if isinstance(exc, DeadlinePassed | TimeoutError) else str(exc)
            reason = str(exc.reason) if isinstance(exc, urllib.error.URLError) else reason
            raise RemoteModelError(
                f"model '{self._name}': cannot reach the server at {shown}: {self._scrub(reason)} "
                "(is it running, and is the URL in openai:MODEL@BASE_URL right?)",
                url=shown,
            ) from None
        if 300 <= answer.status < 400:
            raise self._redirect(answer, "GET", "models")
        if answer.status in (404, 405, 501):  # some servers do not list models
            self._model_info_fetched = True
            return
        if answer.status >= 400:
            message = self._scrub(_server_message(answer.body))
            raise RemoteModelError(
                f"model '{self._name}': GET {shown} answered HTTP {answer.status} {self._scrub(answer.reason)}: "
                f"{message}",
                url=shown,
                status=answer.status,
            )
        self._model_info_fetched = True
        try:
            data = json.loads(answer.body)
        except ValueError:
            return
        entries = data.get("data") if isinstance(data, dict) else None
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and entry.get("id") == self.model:
                    self._model_info = {k: entry[k] for k in ("id", "created", "owned_by") if k in entry}
                    return

    def load(self, device: str) -> None:
        """Check the server is reachable (GET ``{base}/models``; a 404 is tolerated)."""
        self._fetch_models()

    # -- inference -----------------------------------------------------------------------------------------

    def request_body(self, request: Request) -> dict[str, Any]:
        """The JSON body sent for one request."""
        audio = base64.b64encode(encode_wav(request.audio, request.sample_rate)).decode("ascii")
        content = [
            {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            {"type": "text", "text": request.prompt},
        ]
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.options.seed,
        }

    def _attempt(self, data: bytes, shown: str) -> str:
        """One POST; returns the output text, raises _Retryable or RemoteModelError/ModelOutputError."""
        route = "chat/completions"
        try:
            answer = self._call("POST", route, data, self.timeout_s)
        except AnswerTooLarge as exc:
            raise self._too_large(exc, "POST", route) from None
        except (DeadlinePassed, TimeoutError):
            raise _Retryable(self._timeout(self.timeout_s)) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(self._timeout(self.timeout_s)) from None
            raise _Retryable(f"connection error: {self._scrub(str(exc.reason))}") from None
        except _CONNECTION_ERRORS as exc:
            raise _Retryable(f"connection error: {self._scrub(f'{type(exc).__name__}: {exc}')}") from None
        if 300 <= answer.status < 400:
            raise self._redirect(answer, "POST", route)
        if answer.status >= 400:
            message = self._scrub(_server_message(answer.body))
            reason = f"HTTP {answer.status} {self._scrub(answer.reason)}" + (f": {message}" if message else "")
            if answer.status == 429 or answer.status >= 500:
                raise _Retryable(reason, answer.status, _retry_after(answer.headers.get("Retry-After")))
            raise RemoteModelError(
                f"model '{self._name}': POST {shown} failed with {reason}", url=shown, status=answer.status
            )
        try:
            content = json.loads(answer.body)["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            sent = answer.body.decode("utf-8", errors="replace")
            raise ModelOutputError(
                f"model '{self._name}': POST {shown} answered something that is not a chat completion: "
                f"{self._scrub(repr(sent))}"
            ) from None
        text = _content_text(content)
        if text is None:
            raise ModelOutputError(
                f"model '{self._name}': POST {shown}: choices[0].message.content is {type(content).__name__}, not text"
            )
        return text.strip()  # recorded as sent: only messages are made printable

    def _send(self, index: int, request: Request) -> str:
        shown = self._url("chat/completions", shown=True)
        data = json.dumps(self.request_body(request)).encode("utf-8")
        rng = random.Random(self.options.seed * 1_000_003 + index)
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(data, shown)
            except _Retryable as failure:
                if attempt + 1 >= attempts:
                    raise RemoteModelError(
                        f"model '{self._name}': POST {shown} failed after {attempts} attempt(s): {failure.reason}",
                        url=shown,
                        status=failure.status,
                    ) from None
                delay = min(self.backoff_s * (2**attempt), 30.0) * (0.5 + 0.5 * rng.random())
                if failure.wait is not None:
                    delay = max(delay, min(failure.wait, self.max_retry_after_s))
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        """Send the batch concurrently (at most ``concurrency`` in flight); outputs in request order."""
        if not requests:
            return []
        if len(requests) == 1 or self.concurrency == 1:
            return [self._send(i, r) for i, r in enumerate(requests)]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)), thread_name_prefix="audiollm-oai")
        try:
            futures = [pool.submit(self._send, i, r) for i, r in enumerate(requests)]
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- identity ------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``openai:MODEL@BASE_URL`` plus the server's ``/models`` entry (id, created, owned_by) when known.

        The entry is read by ``load()`` (or here, once, if load has not run; an unreachable server then
        gives the plain form). No credentials are included.
        """
        if not self._model_info_fetched:
            try:
                self._fetch_models()
            except RemoteModelError:
                self._model_info_fetched = True  # do not retry on every call
        base = f"openai:{self.model}@{self._endpoint.identity}"  # no credentials, no query
        if self._model_info:
            details = ",".join(f"{k}={self._scrub(str(v))}" for k, v in sorted(self._model_info.items()))
            return f"{base}[{details}]"
        return base


def openai_factory(options: ModelOptions) -> OpenAICompatibleModel:
    """The factory behind ``--audiollm-model openai:MODEL@BASE_URL`` (BASE_URL defaults to $OPENAI_BASE_URL)."""
    return OpenAICompatibleModel(options)
