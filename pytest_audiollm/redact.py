"""What may be shown: URLs without their credentials, text without terminal control characters.

A model spec such as ``openai:MODEL@https://user:password@host/v1?api_key=KEY`` is shown and recorded (node ids,
terminal, results JSON, JUnit, HTML) as ``openai:MODEL@https://***@host/v1?api_key=***``: the user-info part of
every URL and the value of every query parameter become ``***`` (a query value is a credential often enough, and
which names hold one is not knowable). Text a remote server wrote is passed through :func:`printable` before it
reaches a message, so an escape sequence in it cannot drive the terminal.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["HIDDEN", "printable", "redact_credentials", "redact_url", "url_secrets"]

HIDDEN = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-character CSI on some terminals), and the
# characters that reorder or hide text (bidi overrides and isolates)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def redact_url(url: str) -> str:
    """``url`` with its user-info (``user:password@``) and the value of each query parameter replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for mark in "/?#":
        index = rest.find(mark)
        if 0 <= index < end:
            end = index
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rpartition('@')[2]}"
    path, hash_mark, fragment = tail.partition("#")
    path, question, query = path.partition("?")
    if question:
        pairs = re.split(r"([&;])", query)
        query = "".join(p if p in "&;" else f"{p.partition('=')[0]}={HIDDEN}" if "=" in p else HIDDEN for p in pairs)
    if hash_mark:
        fragment = HIDDEN  # an OAuth-style token can ride in the fragment too
    return f"{scheme}://{netloc}{path}{question}{query}{hash_mark}{fragment}"


def redact_credentials(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url` (a model spec, a command line, a message)."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def url_secrets(url: str) -> list[str]:
    """The credentials written in ``url`` (user-info parts, query values) as they may appear, longest first.

    Values under four characters are left out: replacing every ``1`` of a message would hide more than it protects.
    """
    parts = urllib.parse.urlsplit(url)
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found.update([userinfo, *userinfo.split(":", 1)])
    for pair in re.split("[&;]", parts.query):
        found.add(pair.partition("=")[2] if "=" in pair else pair)
    found.update([urllib.parse.unquote(s) for s in found] + [parts.fragment])
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def printable(text: str) -> str:
    """``text`` with control characters (but newline and tab) written as ``\\xNN``/``\\uNNNN`` escapes."""
    return _CONTROL.sub(lambda match: repr(match.group(0))[1:-1], text)
