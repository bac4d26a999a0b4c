"""Named, versioned text normalisers shared by the text metrics.

=================== ===================== ==========================================================================
name                version               what it does
=================== ===================== ==========================================================================
``none``            ``none-1``            nothing but stripping leading and trailing whitespace
``basic``           ``basic-1``           NFKC, case-fold, every character but letters, numbers, whitespace and
                                          U+0027 to a space (combining marks and U+2019 included), spaces collapsed
                                          (the default; exactly :func:`basic`)
``basic-2``         ``basic-2``           typographic apostrophes folded to U+0027, NFKC, case-fold, letters, marks
                                          and numbers kept, format characters dropped, apostrophes kept only inside
                                          words, everything else to a space (exactly :func:`basic_2`)
``whisper_english`` ``whisper_english-1`` Whisper's English normaliser, exactly
                                          ``whisper_normalizer.english.EnglishTextNormalizer()`` (optional package
                                          ``whisper-normalizer``, tested with 0.1.15; imported on first use)
=================== ===================== ==========================================================================

``basic-1`` stays as it was so that results recorded with it keep their meaning, warts included: "don", U+2019, "t"
becomes "don t" (two words, one more than "don't"), the combining marks of Devanagari, Thai or Arabic split their
words, quotes written with U+0027 stay on the word (``'hello'``). ``basic-2`` is the fix, under its own name and
version; the default stays ``basic`` (``basic-1``) because changing it would change, without a word, the values and
the recorded normaliser of every benchmark that does not name one. Both use the Unicode database of the running
Python (``unicodedata.unidata_version``) for NFKC, case folding and the categories.

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
    "basic-2": "basic-2",
    "whisper_english": "whisper_english-1",
}
NORMALIZERS = tuple(NORMALIZER_VERSIONS)
WHISPER_PACKAGE = "whisper-normalizer"

_NON_WORD = re.compile(r"[^\w\s']|_", re.UNICODE)
_SPACES = re.compile(r"\s+")
_SPACE_RUNS = re.compile(r"\s\s+")  # jiwer's RemoveMultipleSpaces


def basic(text: str) -> str:
    """``basic-1``, exactly: NFKC; ``str.casefold``; every character matched by ``[^\\w\\s']|_`` becomes a space;
    whitespace runs become one space, ends stripped.

    ``\\w`` is a character for which ``str.isalnum()`` holds (letters L*, numbers Nd, Nl, No) or ``_``; ``\\s`` one
    for which ``str.isspace()`` holds. So everything else becomes a space: punctuation (U+2018 and U+2019 included,
    only U+0027 is kept, wherever it stands), symbols, the underscore, combining marks (M*: the vowel signs and
    viramas of Indic scripts, accents that NFKC cannot compose), format characters (soft hyphen, zero-width space
    and joiners) and controls that are not whitespace. U+02BC MODIFIER LETTER APOSTROPHE is a letter: kept.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# basic-2: characters folded to the ASCII apostrophe U+0027 (before NFKC, which would decompose U+00B4 into a space
# and a combining accent, and again after it, which maps U+FF07 to U+0027 and U+1FEF to U+0060)
APOSTROPHES = (
    "\u0060"  # GRAVE ACCENT
    "\u00b4"  # ACUTE ACCENT
    "\u02b9"  # MODIFIER LETTER PRIME
    "\u02bb"  # MODIFIER LETTER TURNED COMMA (Hawaiian okina)
    "\u02bc"  # MODIFIER LETTER APOSTROPHE
    "\u02bd"  # MODIFIER LETTER REVERSED COMMA
    "\u2018"  # LEFT SINGLE QUOTATION MARK
    "\u2019"  # RIGHT SINGLE QUOTATION MARK
    "\u201a"  # SINGLE LOW-9 QUOTATION MARK
    "\u201b"  # SINGLE HIGH-REVERSED-9 QUOTATION MARK
    "\u2032"  # PRIME
    "\uff07"  # FULLWIDTH APOSTROPHE
)
_FOLD_APOSTROPHES = str.maketrans(dict.fromkeys(APOSTROPHES, "'"))
_ZERO_WIDTH_SPACE = "\u200b"
_EDGE_APOSTROPHE = re.compile(r"(?<![^ '])'|'(?![^ '])")  # an apostrophe next to a space, another one or an end


@functools.lru_cache(maxsize=65536)
def _basic_2_char(char: str) -> str:
    """A character of basic-2's step 3: letters, marks, numbers and U+0027 kept; format characters dropped (the
    zero-width space excepted); everything else a space."""
    category = unicodedata.category(char)
    if category[0] in "LMN" or char == "'":
        return char
    if category == "Cf" and char != _ZERO_WIDTH_SPACE:
        return ""
    return " "


def basic_2(text: str) -> str:
    """``basic-2``: apostrophes folded, NFKC, case-fold, only letters, marks, numbers and inner apostrophes kept.

    1. the characters of :data:`APOSTROPHES` become U+0027;
    2. NFKC, then ``str.casefold``, then step 1 again;
    3. each character by its Unicode general category: letters (L*), marks (M*) and numbers (N*) are kept, and so
       is U+0027; format characters (Cf: soft hyphen, zero-width joiners, word joiner, byte-order mark, bidi
       controls) are removed, except U+200B ZERO WIDTH SPACE; every other character (punctuation P*, symbols S*,
       separators Z*, controls Cc, private use, unassigned) becomes a space;
    4. an apostrophe is kept only between two kept characters (``don't``, ``o'clock``); one at a word's edge (a
       quotation mark, ``'n'``, ``dogs'``) becomes a space;
    5. whitespace runs become one space, ends stripped.
    """
    text = unicodedata.normalize("NFKC", text.translate(_FOLD_APOSTROPHES)).casefold().translate(_FOLD_APOSTROPHES)
    text = "".join(_basic_2_char(char) for char in text)
    text = _EDGE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())  # only U+0020 is left as whitespace: this collapses its runs and strips


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


_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "none": none,
    "basic": basic,
    "basic-2": basic_2,
    "whisper_english": whisper_english,
}


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
