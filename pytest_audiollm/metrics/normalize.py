"""Named, versioned text normalisers shared by the text metrics."""

from __future__ import annotations

import re
import unicodedata

BASIC_NORMALIZER_VERSION = "basic-1"
_NON_WORD = re.compile(r"[^\w\s']|_", re.UNICODE)
_SPACES = re.compile(r"\s+")


def basic(text: str) -> str:
    """``basic-1``: NFKC, case-fold, punctuation to spaces (apostrophes kept), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    normalized = basic(text)
    return normalized.split(" ") if normalized else []
