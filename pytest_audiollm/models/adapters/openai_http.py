"""The HTTP side of the ``openai:`` adapter: targets, secrets, WAV encoding, retries and server messages.

Only the standard library; numpy is imported when audio is encoded.
"""

from __future__ import annotations

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

__all__ = ["RemoteModelError", "encode_wav", "parse_target", "redact_url"]

_MESSAGE_LIMIT = 500  # characters of a server's error message kept in our exceptions
_USER_AGENT = "pytest-audiollm"


class RemoteModelError(AudioLLMError):
    """A remote model server refused or failed a request (``status`` is None for connection errors)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class _Secret:
    """Holds the API key; its repr/str never show it (so ``vars(model)``, logs and dumps stay clean)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "<secret>" if self._value else "<none>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key is not picklable")


class _Retryable(Exception):
    """Internal: one failed attempt that may be retried (``wait`` is a server-requested delay, if any)."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None) -> None:
        self.reason = reason
        self.status = status
        self.wait = wait
        super().__init__(reason)


def redact_url(url: str) -> str:
    """``url`` without user-info (``user:password@``) and without a query string."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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
