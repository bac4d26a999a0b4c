"""Named, versioned text normalisers shared by the text metrics.

=================== ===================== ==========================================================================
name                version               what it does
=================== ===================== ==========================================================================
``none``            ``none-1``            nothing but stripping leading and trailing whitespace
``basic``           ``basic-1``           NFKC, case-fold, punctuation to spaces (apostrophes kept), spaces collapsed
``whisper_english`` ``whisper_english-1`` Whisper's English normaliser, exactly
                                          ``whisper_normalizer.english.EnglishTextNormalizer()`` (optional package
                                          ``whisper-normalizer``, tested with 0.1.15; imported on first use)
=================== ===================== ==========================================================================

A version changes whenever a normaliser's output changes for some input. ``whisper_english`` returns the package's
output unchanged (it may keep one leading or trailing space).

Words (what WER counts) are split out of the normalised text by jiwer's default word transform (jiwer 4.0
``wer_default``), :func:`split_words`: every run of two or more whitespace characters becomes one space, leading and
trailing whitespace is stripped, and the text is split on the space U+0020 only. A single tab, newline or no-break
space is therefore part of a word ("a", tab, "b" is one word; "a", two tabs, "b" are two). Only ``none`` can leave such
characters: ``basic`` and ``whisper_english`` turn every whitespace run into one space, so for them this is the
same as ``str.split()``.

``whisper-normalizer`` packages the English normaliser of openai-whisper; the two differ in details (the package
also expands "kinda", "sorta", "dunno", "cause"; openai-whisper also rewrites "half a million" and joins currency
symbols to numbers across spaces): our values equal the package's.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from collections.abc import Callable

from pytest_audiollm.errors import MissingDependency

BASIC_NORMALIZER_VERSION = "basic-1"
NORMALIZER_VERSIONS: dict[str, str] = {
    "none": "none-1",
    "basic": BASIC_NORMALIZER_VERSION,
    "whisper_english": "whisper_english-1",
}
NORMALIZERS = tuple(NORMALIZER_VERSIONS)
WHISPER_PACKAGE = "whisper-normalizer"

_NON_WORD = re.compile(r"[^\w\s']|_", re.UNICODE)
_SPACES = re.compile(r"\s+")
_SPACE_RUNS = re.compile(r"\s\s+")  # jiwer's RemoveMultipleSpaces


def basic(text: str) -> str:
    """``basic-1``: NFKC, case-fold, punctuation to spaces (apostrophes kept), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def none(text: str) -> str:
    """``none-1``: the text itself, without leading and trailing whitespace."""
    return text.strip()


@functools.cache
def _whisper_english() -> Callable[[str], str]:
    try:
        module = importlib.import_module("whisper_normalizer.english")
    except ImportError as exc:
        raise MissingDependency(WHISPER_PACKAGE, "the 'whisper_english' text normaliser") from exc
    normalizer: Callable[[str], str] = module.EnglishTextNormalizer()
    return normalizer


def whisper_english(text: str) -> str:
    """``whisper_english-1``: ``whisper_normalizer.english.EnglishTextNormalizer()(text)``.

    Raises :class:`~pytest_audiollm.errors.MissingDependency` when ``whisper-normalizer`` is not installed.
    """
    return str(_whisper_english()(text))


_FUNCTIONS: dict[str, Callable[[str], str]] = {"none": none, "basic": basic, "whisper_english": whisper_english}


def _check(name: str) -> None:
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown text normaliser {name!r}: expected one of {', '.join(NORMALIZERS)}")


def normalizer_version(name: str) -> str:
    """The version of the normaliser called ``name`` (``basic`` -> ``basic-1``)."""
    _check(name)
    return NORMALIZER_VERSIONS[name]


def normalize(text: str, name: str = "basic") -> str:
    """``text`` through the normaliser called ``name`` (one of :data:`NORMALIZERS`).

    Results are cached (the same texts go through WER, CER and their macro forms).
    """
    _check(name)
    return _normalize(text, name)


@functools.lru_cache(maxsize=16384)
def _normalize(text: str, name: str) -> str:
    return _FUNCTIONS[name](text)


def normalizer_unavailable(name: str) -> str | None:
    """Why the normaliser called ``name`` cannot run here (with what to install), or None when it can."""
    if name not in _FUNCTIONS:
        return f"unknown text normaliser {name!r}: expected one of {', '.join(NORMALIZERS)}"
    if name == "whisper_english":
        try:
            _whisper_english()
        except MissingDependency as exc:
            return str(exc)
    return None


def split_words(normalized: str) -> list[str]:
    """The words of an already normalised text, as jiwer 4.0's default word transform splits them.

    ``RemoveMultipleSpaces`` (a run of 2+ whitespace characters becomes one space), ``Strip``, then
    ``ReduceToListOfListOfWords`` (split on U+0020, empty strings dropped).
    """
    return [word for word in _SPACE_RUNS.sub(" ", normalized).strip().split(" ") if word]


def words(text: str, name: str = "basic") -> list[str]:
    """The words of ``text`` after the normaliser called ``name`` (split as :func:`split_words` says)."""
    return split_words(normalize(text, name))
