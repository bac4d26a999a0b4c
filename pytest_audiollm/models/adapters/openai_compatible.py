"""The ``openai:`` model adapter: any OpenAI-compatible chat-completions server (vLLM, SGLang, hosted APIs).

``--audiollm-model openai:MODEL@BASE_URL`` (for example
``openai:Qwen/Qwen2-Audio-7B-Instruct@http://gpu-box:8000/v1``) sends each request to
``BASE_URL/chat/completions``; without ``@BASE_URL`` the base URL is taken from ``$OPENAI_BASE_URL``.
Each request becomes one user turn holding an ``input_audio`` part (a base64 16-bit PCM WAV of the request's
audio at its sample rate) and a text part (the prompt); the output is ``choices[0].message.content``,
stripped. Settings come from ``ModelOptions.extra`` (``--audiollm-model-arg KEY=VALUE``):

- ``max_tokens`` (default 256), ``temperature`` (default 0); ``options.seed`` is sent as ``seed``;
- ``timeout_s``: per-request timeout in seconds (default 120);
- ``max_retries``: retries after the first attempt (default 4) on connection errors, timeouts, 429 and 5xx,
  with exponential backoff from ``backoff_s`` (default 1.0, seeded jitter); a 429's ``Retry-After`` seconds
  are honoured, capped at ``max_retry_after_s`` (default 60); other 4xx are never retried;
- ``concurrency``: requests in flight at once (default 4); batches are at least this large whatever
  ``--audiollm-batch-size`` says, so the default batch size of 1 does not serialise the requests;
- ``api_key_env``: the environment variable holding the API key (default ``OPENAI_API_KEY``), sent as
  ``Authorization: Bearer``; it never appears in error messages, ``repr`` or the fingerprint;
- ``sample_rate``: the rate requests are resampled to before sending (default 16000).

Only the standard library is used for HTTP (``urllib.request`` + ``concurrent.futures``); numpy is imported
when audio is encoded.
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
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_audiollm.errors import AudioLLMError, ModelOutputError
from pytest_audiollm.models.adapters.openai_http import (
    _MESSAGE_LIMIT,
    _USER_AGENT,
    RemoteModelError,
    _content_text,
    _positive,
    _retry_after,
    _Retryable,
    _Secret,
    _server_message,
    encode_wav,
    parse_target,
    redact_url,
)
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

__all__ = ["OpenAICompatibleModel", "RemoteModelError", "encode_wav", "openai_factory", "parse_target"]


class OpenAICompatibleModel(AudioModel):
    """An audio LLM behind an OpenAI-compatible ``/chat/completions`` endpoint (``openai:MODEL@BASE_URL``)."""

    cpu_only = True  # nothing runs locally

    def __init__(self, options: ModelOptions, env: dict[str, str] | None = None) -> None:
        super().__init__(options)
        environ = os.environ if env is None else env
        target = options.target or options.name.removeprefix("openai:")
        if not target:
            raise AudioLLMError(f"model '{options.name}': openai: needs MODEL@BASE_URL")
        self.model, self.base_url = parse_target(target, dict(environ))
        self.max_tokens = int(_positive(options, "max_tokens", 256, integer=True, minimum=1))
        self.temperature = float(_positive(options, "temperature", 0.0))
        self.timeout_s = float(_positive(options, "timeout_s", 120.0))
        if self.timeout_s <= 0:
            raise AudioLLMError(f"model '{options.name}': timeout_s must be positive")
        self.max_retries = int(_positive(options, "max_retries", 4, integer=True))
        self.backoff_s = float(_positive(options, "backoff_s", 1.0))
        self.max_retry_after_s = float(_positive(options, "max_retry_after_s", 60.0))
        self.concurrency = int(_positive(options, "concurrency", 4, integer=True, minimum=1))
        self.min_batch_size = self.concurrency  # so --audiollm-batch-size 1 still keeps `concurrency` in flight
        self.sample_rate = int(_positive(options, "sample_rate", 16000, integer=True, minimum=1))
        self.api_key_env = str(options.extra.get("api_key_env", "OPENAI_API_KEY"))
        self._api_key = _Secret(environ.get(self.api_key_env, "") or "")
        self._opener = urllib.request.build_opener()
        self._model_info: dict[str, Any] | None = None
        self._model_info_fetched = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={redact_url(self.base_url)!r})"

    # -- helpers -------------------------------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        """The base URL as it may be shown (no credentials, no query)."""
        return redact_url(self.base_url)

    def _scrub(self, text: str) -> str:
        """``text`` with the API key (and the base URL's credentials) replaced, truncated for messages."""
        if self._api_key:
            text = text.replace(self._api_key.reveal(), "***")
        if self.base_url != self.public_url:
            text = text.replace(self.base_url, self.public_url)
        if len(text) > _MESSAGE_LIMIT:
            text = text[:_MESSAGE_LIMIT] + "…"
        return text

    def _headers(self, *, json_body: bool) -> dict[str, str]:
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        return headers

    # -- lifecycle -----------------------------------------------------------------------------------------

    def memory_estimate(self) -> int:
        return 0  # the model lives on the server

    def _fetch_models(self) -> None:
        """GET ``{base}/models``; keeps this model's entry. Raises RemoteModelError when the server is unreachable."""
        url = f"{self.base_url}/models"
        request = urllib.request.Request(url, headers=self._headers(json_body=False), method="GET")
        shown = f"{self.public_url}/models"
        try:
            with self._opener.open(request, timeout=min(self.timeout_s, 30.0)) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405, 501):  # some servers do not list models
                self._model_info_fetched = True
                return
            message = self._scrub(_server_message(exc.read()))
            raise RemoteModelError(
                f"model '{self.options.name}': GET {shown} answered HTTP {exc.code} {exc.reason}: {message}",
                url=shown,
                status=exc.code,
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteModelError(
                f"model '{self.options.name}': cannot reach the server at {shown}: {self._scrub(str(reason))} "
                "(is it running, and is the URL in openai:MODEL@BASE_URL right?)",
                url=shown,
            ) from None
        self._model_info_fetched = True
        try:
            data = json.loads(body)
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

    def _attempt(self, data: bytes, url: str, shown: str) -> str:
        """One POST; returns the output text, raises _Retryable or RemoteModelError/ModelOutputError."""
        request = urllib.request.Request(url, data=data, headers=self._headers(json_body=True), method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            try:
                error_body = exc.read()
            except (OSError, http.client.HTTPException):
                error_body = b""
            message = self._scrub(_server_message(error_body))
            reason = f"HTTP {exc.code} {exc.reason}" + (f": {message}" if message else "")
            if exc.code == 429 or exc.code >= 500:
                wait = _retry_after(exc.headers.get("Retry-After")) if exc.headers is not None else None
                raise _Retryable(reason, exc.code, wait) from None
            raise RemoteModelError(
                f"model '{self.options.name}': POST {shown} failed with {reason}", url=shown, status=exc.code
            ) from None
        except TimeoutError:
            raise _Retryable(f"no answer within timeout_s={self.timeout_s:g}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(f"no answer within timeout_s={self.timeout_s:g}") from None
            raise _Retryable(f"connection error: {self._scrub(str(exc.reason))}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Retryable(f"connection error: {self._scrub(f'{type(exc).__name__}: {exc}')}") from None
        try:
            answer = json.loads(body)
            content = answer["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ModelOutputError(
                f"model '{self.options.name}': POST {shown} answered something that is not a chat completion: "
                f"{self._scrub(body.decode('utf-8', errors='replace'))!r}"
            ) from None
        text = _content_text(content)
        if text is None:
            raise ModelOutputError(
                f"model '{self.options.name}': POST {shown}: choices[0].message.content is {type(content).__name__}, "
                "not text"
            )
        return text.strip()

    def _send(self, index: int, request: Request) -> str:
        url = f"{self.base_url}/chat/completions"
        shown = f"{self.public_url}/chat/completions"
        data = json.dumps(self.request_body(request)).encode("utf-8")
        rng = random.Random(self.options.seed * 1_000_003 + index)
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(data, url, shown)
            except _Retryable as failure:
                if attempt + 1 >= attempts:
                    raise RemoteModelError(
                        f"model '{self.options.name}': POST {shown} failed after {attempts} attempt(s): "
                        f"{failure.reason}",
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
        base = f"openai:{self.model}@{self.public_url}"
        if self._model_info:
            details = ",".join(f"{k}={self._scrub(str(v))}" for k, v in sorted(self._model_info.items()))
            return f"{base}[{details}]"
        return base


def openai_factory(options: ModelOptions) -> OpenAICompatibleModel:
    """The factory behind ``--audiollm-model openai:MODEL@BASE_URL`` (BASE_URL defaults to $OPENAI_BASE_URL)."""
    return OpenAICompatibleModel(options)
