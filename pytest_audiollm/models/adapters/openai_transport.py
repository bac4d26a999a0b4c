"""One HTTP request of the ``openai:`` adapter: no redirect followed, the whole request within a deadline, the answer
read up to a size cap.

- **Redirects** are answers, never followed: a 3xx comes back as an :class:`Answer` for the adapter to refuse
  (urllib would send the ``Authorization`` header to wherever ``Location`` points, and turn a 302/303 POST into
  a GET without the audio).
- **Deadline**: ``timeout_s`` bounds the request as a whole (connect, send, every read). When it passes, a
  watchdog thread shuts the connection's socket down, which ends whatever read is waiting; a socket timeout
  alone bounds each wait, so a server sending a byte every second could hold a request forever.
- **Size**: a body larger than the cap is refused, at the headers when ``Content-Length`` says so, else as soon
  as the cap is passed; it is read 64 KiB at a time, never whole. Error bodies are read up to 64 KiB (only
  their first few hundred characters are shown).

``urllib.request`` still opens the connection, so proxies from the environment (``https_proxy``, ...) apply.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import http.client
import itertools
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

__all__ = ["Answer", "AnswerTooLarge", "DeadlinePassed", "build_opener", "http_call"]

ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What the server answered (any status, redirects and errors included)."""

    status: int
    reason: str
    headers: Message
    body: bytes


class DeadlinePassed(Exception):
    """The request did not complete within its deadline."""


class AnswerTooLarge(Exception):
    """The answer's body is larger than the cap (``announced``: its Content-Length, when it gave one)."""

    def __init__(self, limit: int, announced: int | None) -> None:
        self.limit = limit
        self.announced = announced
        super().__init__(f"more than {limit} bytes")


class _Deadline:
    """Shuts down every socket of one request when ``seconds`` have passed (``expired`` then says so)."""

    def __init__(self, seconds: float) -> None:
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> _Deadline:
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True  # the watchdog drops it; expiring it now would do nothing

    @property
    def done(self) -> bool:
        return self._done

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _hang_up(sock)

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:  # the deadline passed while connecting
            _hang_up(sock)


class _Watchdog:
    """One daemon thread expiring the deadlines of every request in flight (a thread per request cost 0.5 ms)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.expires_at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audiollm-oai-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _due(self) -> _Deadline:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._wake.wait(wait)

    def _run(self) -> None:
        while True:
            self._due().expire()


_WATCHDOG = _Watchdog()


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: wakes a TLS read on the same descriptor


def _tracked(connection: http.client.HTTPConnection, deadline: _Deadline) -> None:
    """Have ``deadline`` track the TCP socket ``connection`` opens (before any TLS handshake or proxy tunnel)."""
    create = connection._create_connection  # type: ignore[attr-defined]

    def create_tracked(*args: Any, **kwargs: Any) -> socket.socket:
        sock: socket.socket = create(*args, **kwargs)
        deadline.track(sock)
        return sock

    connection._create_connection = create_tracked  # type: ignore[attr-defined]


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tracked(self, deadline)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tracked(self, deadline)


_current = threading.local()  # .deadline: that of the request this thread is making (urllib opens in the caller)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, deadline=_current.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPSConnection, deadline=_current.deadline), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is handed back as it is (urllib then raises it as an HTTPError, which http_call turns into an Answer)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _read(response: Any, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, read a chunk at a time, and whether there was more."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = response.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    body = b"".join(chunks)
    return body[:limit], total > limit


def _error_body(error: urllib.error.HTTPError) -> bytes:
    """The first ERROR_BODY_LIMIT bytes of an error answer's body (empty when it cannot be read)."""
    try:
        with error:
            return _read(error, ERROR_BODY_LIMIT)[0]
    except (OSError, http.client.HTTPException, AttributeError):  # AttributeError: an HTTPError without a body
        return b""


def build_opener() -> urllib.request.OpenerDirector:
    """The opener :func:`http_call` uses (build one and keep it: building takes over a millisecond)."""
    return urllib.request.build_opener(_NoRedirect, _HTTPHandler, _HTTPSHandler)


def http_call(
    opener: urllib.request.OpenerDirector,
    method: str,
    url: str,
    *,
    data: bytes | None,
    headers: dict[str, str],
    timeout_s: float,
    max_bytes: int,
) -> Answer:
    """One request, all of it within ``timeout_s``; any status is an answer. Raises DeadlinePassed, AnswerTooLarge,
    or what the connection raised (OSError, http.client.HTTPException, urllib.error.URLError)."""
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with _Deadline(timeout_s) as deadline:
        _current.deadline = deadline
        try:
            try:
                response = opener.open(request, timeout=timeout_s)
            except urllib.error.HTTPError as exc:  # 3xx, 4xx, 5xx
                answer = Answer(exc.code, str(exc.reason), exc.headers or Message(), _error_body(exc))
            else:
                with response:
                    length = response.headers.get("Content-Length", "")
                    if length.strip().isdigit() and int(length) > max_bytes:
                        raise AnswerTooLarge(max_bytes, int(length))
                    body, more = _read(response, max_bytes)
                    if more:
                        raise AnswerTooLarge(max_bytes, None)
                    answer = Answer(response.status, str(response.reason), response.headers, body)
        except AnswerTooLarge:
            raise
        except Exception:
            if deadline.expired:  # whatever broke, it broke because the deadline hung up
                raise DeadlinePassed from None
            raise
        finally:
            _current.deadline = None
        if deadline.expired:  # a body without a length ends where the hang-up cut it
            raise DeadlinePassed
    return answer
