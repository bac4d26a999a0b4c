"""The HTTP side of the ``openai:`` adapter: targets, the endpoint and its credentials, WAV encoding, retries and
server messages.

Only the standard library; numpy is imported when audio is encoded.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import os
import time
import urllib.parse
import wave
from typing import Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.protocol import ModelOptions
from pytest_audiollm.redact import HIDDEN, printable, redact_credentials, redact_url, url_secrets

__all__ = ["Endpoint", "RemoteModelError", "encode_wav", "parse_target"]

_MESSAGE_LIMIT = 500  # characters of a server's error message kept in our exceptions
_USER_AGENT = "pytest-audiollm"


class RemoteModelError(AudioLLMError):
    """A remote model server refused or failed a request (``status`` is None for connection errors)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class Endpoint:
    """Where the requests go and how they authenticate; what it shows (repr, URLs, scrubbed text) holds no credential.

    ``user:password@`` in the base URL becomes HTTP Basic auth (the request URL has no user-info); an API key
    becomes a bearer token; one request has one Authorization header, so the two together are refused.
    """

    __slots__ = ("_authorization", "_host", "_netloc", "_path", "_query", "_scheme", "_secrets")

    def __init__(self, base_url: str, api_key: str, *, name: str, api_key_env: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        userinfo, _, host = parts.netloc.rpartition("@")
        if userinfo and api_key:
            raise AudioLLMError(
                f"model '{name}': the URL holds user:password@ (sent as HTTP Basic auth) and ${api_key_env} holds "
                "an API key (sent as a bearer token), but a request has one Authorization header. Drop the "
                "user-info from the URL, or send no key with --audiollm-model-arg api_key_env= (empty)"
            )
        user, _, password = (urllib.parse.unquote(part) for part in userinfo.partition(":"))
        basic = base64.b64encode(f"{user}:{password}".encode()).decode() if userinfo else ""
        self._scheme, self._host, self._netloc = parts.scheme, host, parts.netloc
        self._path, self._query = parts.path, parts.query
        self._authorization = f"Bearer {api_key}" if api_key else f"Basic {basic}" if basic else ""
        self._secrets = tuple(s for s in (api_key, basic, *url_secrets(base_url)) if s)

    def __repr__(self) -> str:
        return f"Endpoint({self.url('', shown=True).rstrip('/')!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an endpoint holds credentials and is not picklable")

    @property
    def identity(self) -> str:
        """``scheme://host/path``: no credentials and no query (what the fingerprint names)."""
        return f"{self._scheme}://{self._host}{self._path}"

    @property
    def authorization(self) -> str:
        """The Authorization header's value, empty for none."""
        return self._authorization

    def url(self, route: str, *, shown: bool = False) -> str:
        """The URL of ``route`` (``chat/completions``, ``models``) as requested, or as shown (credentials ``***``)."""
        netloc = self._netloc if shown else self._host
        url = urllib.parse.urlunsplit((self._scheme, netloc, f"{self._path}/{route}", self._query, ""))
        return redact_url(url) if shown else url

    def scrub(self, text: str) -> str:
        """``text`` fit for a message: credentials replaced, control characters escaped, truncated."""
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        text = printable(redact_credentials(text))
        return text[:_MESSAGE_LIMIT] + "…" if len(text) > _MESSAGE_LIMIT else text


class _Retryable(Exception):
    """Internal: one failed attempt that may be retried (``wait`` is a server-requested delay, if any)."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None) -> None:
        self.reason = reason
        self.status = status
        self.wait = wait
        super().__init__(reason)


def parse_target(target: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """``MODEL@BASE_URL`` → ``(MODEL, BASE_URL)``; without ``@http(s)://`` the base URL is ``$OPENAI_BASE_URL``."""
    environ = os.environ if env is None else env
    model, base = target, ""
    for scheme in ("@http://", "@https://"):
        index = target.find(scheme)
        if index >= 0:
            model, base = target[:index], target[index + 1 :]
            break
    else:
        if "@" in target:
            head, _, tail = target.rpartition("@")
            raise AudioLLMError(
                f"openai:{target}: the part after '@' ({tail!r}) is not an http:// or https:// URL; "
                f"use openai:{head}@http://HOST:PORT/v1"
            )
        base = environ.get("OPENAI_BASE_URL", "")
        if not base:
            raise AudioLLMError(
                f"openai:{target}: no server URL; write openai:{target}@http://HOST:PORT/v1 "
                "or set the OPENAI_BASE_URL environment variable"
            )
    if not model:
        raise AudioLLMError(f"openai:{target}: no model name before the server URL (openai:MODEL@BASE_URL)")
    if not base.startswith(("http://", "https://")):
        raise AudioLLMError(f"openai:{target}: base URL {redact_url(base)!r} is not an http:// or https:// URL")
    return model, base.rstrip("/")


def encode_wav(audio: Any, sample_rate: int) -> bytes:
    """Mono float audio in [-1, 1] → the bytes of a 16-bit PCM WAV file."""
    import numpy as np

    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _positive(options: ModelOptions, key: str, default: float, *, integer: bool = False, minimum: float = 0) -> Any:
    raw = options.extra.get(key, default)
    try:
        value: float = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        raise AudioLLMError(f"model '{options.name}': {key}={raw!r} is not a number") from None
    if value < minimum:
        raise AudioLLMError(f"model '{options.name}': {key} must be at least {minimum} (got {raw!r})")
    return value


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(body: bytes) -> str:
    """The error message in a server's error body (OpenAI ``{"error": {"message": ...}}`` or plain text)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return str(error[key])
        elif isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return text


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers return content parts
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return None
