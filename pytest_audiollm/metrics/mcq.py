"""Multiple-choice QA: which option a free-text answer picks, and the share of samples answered correctly.

The options are the benchmark's ``choices`` (option texts, in order), lettered A, B, C, ... The reference is the
correct option, given as its text or its letter. An answer is read by :func:`extract_choice`, with these rules:

1. **Exact text.** An answer equal to an option text or one of its synonyms (after ``basic`` normalisation: case,
   punctuation, whitespace) is that option, even when the text is a lone letter.
2. **Letters.** Option letters are read where they are written as letters:

   - the whole answer is a letter: ``B``, ``b``, ``(B)``, ``[B]``, ``B.``, ``B)``, ``B:`` (any case);
   - the answer starts with a marked letter: ``B. dog``, ``(b) dog``, ``B) dog``, ``B: dog``, ``B, because``,
     ``B - dog`` (any case);
   - a bracketed letter anywhere: ``... (B) ...`` (any case);
   - after a cue word: ``answer B``, ``Answer: B``, ``The answer is (b)``, ``option B``, ``choice c`` (any case);
   - a capital letter standing alone anywhere: ``It's B.``, ``I'd pick C`` (lowercase letters standing alone are
     ignored: ``e.g.``, ``i.e.``).

   Letters that are also English words (``a``, ``I``) are not read as option letters where they work as words:
   followed by a space and a word (``a dog``, ``A dog barks``, ``I think``), except the words ``or``, ``and``,
   ``nor``, ``vs``, ``versus`` and ``is`` (``A or B``, ``A is right``), which cannot follow an article or the
   pronoun. A letter followed by an apostrophe or a hyphenated word (``I'm``, ``A-weighting``) is never read.
   Capital letters inside a phrase that names an option (option ``C major``: ``it sounds like C major``) belong
   to that phrase and are not read as letters.
3. **Option texts** inside the answer are found as in :func:`~pytest_audiollm.metrics.classification.match_label`
   (whole words, synonyms, the longest phrase when one contains another).

The answer is unparsed (never guessed) when it names two different letters (``A or B``, ``not A, it's B``: a
negation is not interpreted), when a marked letter is not an option (``Answer: E`` with four options), when its
letter disagrees with an option text it names (``B. dog`` where dog is option A), or when it names neither a
letter nor exactly one option. Unparsed answers score as wrong and are counted in ``extraction_failure_rate``.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.classification import match_label
from pytest_audiollm.metrics.normalize import basic
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

LETTERS = string.ascii_uppercase
_WORD_LETTERS = frozenset("AI")  # letters that are also English words: the article "a", the pronoun "I"
_NOT_AFTER_WORD = frozenset({"or", "and", "nor", "vs", "versus", "is"})  # cannot follow the article / pronoun

# a letter must not touch a word character, an apostrophe or a hyphenated word on either side
_BEFORE = r"(?<![\w'\u2019\-])"
_AFTER = r"(?![\w'\u2019]|-\w)"
_WHOLE = re.compile(r"^\s*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:)]?\s*$")
_LEADING = re.compile(r"^\s*(?:[(\[]([A-Za-z])[)\]]|([A-Za-z])(?:[.:,)\]]|\s+[-\u2013\u2014]))(?=\s|$)")
_BRACKETED = re.compile(r"(?<!\w)[(\[]([A-Za-z])[)\]]")
_CUE = re.compile(
    r"\b(?:answer|options?|choices?)(?:\s+(?:is|would\s+be|should\s+be|will\s+be))?\s*[:=]?\s*"
    rf"(?:[(\[]([A-Za-z])[)\]]|{_BEFORE}([A-Za-z]){_AFTER})",
    re.IGNORECASE,
)
_BARE = re.compile(rf"{_BEFORE}([A-Z]){_AFTER}")
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
_MARKUP = re.compile(r"[*`]")


def option_letter(index: int) -> str:
    """The letter of the option at ``index`` (0 -> A)."""
    return LETTERS[index]


def extract_choice(
    answer: str, choices: Sequence[str], synonyms: dict[str, tuple[str, ...]] | None = None
) -> int | None:
    """The index of the option a free-text answer picks, or None when it is unparsed (rules: module docstring)."""
    synonyms = synonyms or {}
    forms = _option_forms(tuple(choices), tuple(sorted((k, tuple(v)) for k, v in synonyms.items())))
    normalized = basic(answer)
    if not normalized:
        return None
    exact = forms.exact.get(normalized)
    if exact is not None:
        return exact
    text = _MARKUP.sub("", unicodedata.normalize("NFKC", answer))
    letters = _letters(_erase_option_phrases(text, forms), len(choices))
    if letters is None or len(letters) > 1:
        return None
    named = _named_options(normalized, forms)
    if letters:
        (letter,) = letters
        return letter if named <= {letter} else None
    if not choices:
        return None
    label = match_label(answer, choices, synonyms)
    return None if label is None else list(choices).index(label)


class _OptionForms:
    """Normalised names of each option, computed once per benchmark."""

    def __init__(self, choices: tuple[str, ...], synonyms: dict[str, tuple[str, ...]]) -> None:
        self.exact: dict[str, int] = {}
        self.forms: list[tuple[int, str, re.Pattern[str]]] = []  # (option, normalised form, whole-word pattern)
        self.lettered: list[re.Pattern[str]] = []  # raw-text patterns of forms that contain a lone letter
        for index, choice in enumerate(choices):
            for form in (basic(choice), *(basic(s) for s in synonyms.get(choice, ()))):
                if not form:
                    continue
                self.exact.setdefault(form, index)
                self.forms.append((index, form, re.compile(rf"(?<!\w){re.escape(form)}(?!\w)")))
                tokens = form.split(" ")
                if any(len(t) == 1 and t.isalpha() for t in tokens):
                    separator = r"(?:[^\w']|_)+"
                    raw = separator.join(re.escape(t) for t in tokens)
                    self.lettered.append(re.compile(rf"(?<!\w){raw}(?!\w)", re.IGNORECASE))


@functools.lru_cache(maxsize=64)
def _option_forms(choices: tuple[str, ...], synonyms: tuple[tuple[str, tuple[str, ...]], ...]) -> _OptionForms:
    return _OptionForms(choices, dict(synonyms))


def _erase_option_phrases(text: str, forms: _OptionForms) -> str:
    for pattern in forms.lettered:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def _named_options(normalized: str, forms: _OptionForms) -> set[int]:
    """Options whose name or synonym appears as whole words; a phrase inside a longer named phrase is dropped."""
    found: dict[int, str] = {}
    for index, form, pattern in forms.forms:
        if pattern.search(normalized) and len(form) > len(found.get(index, "")):
            found[index] = form
    phrases = list(found.values())
    return {
        index
        for index, form in found.items()
        if not any(other != form and re.search(rf"(?<!\w){re.escape(form)}(?!\w)", other) for other in phrases)
    }


def _letters(text: str, n_options: int) -> set[int] | None:
    """Option indices written as letters in ``text``; None when a marked letter is not an option."""
    marked: list[str] = []
    whole = _WHOLE.match(text)
    if whole:
        marked.append(whole.group(1))
    else:
        leading = _LEADING.match(text)
        if leading:
            marked.append(leading.group(1) or leading.group(2))
        marked.extend(m.group(1) for m in _BRACKETED.finditer(text))
        for m in _CUE.finditer(text):
            if m.group(1):
                marked.append(m.group(1))
            elif _is_letter(text, m.start(2), m.group(2)):
                marked.append(m.group(2))
    indices: set[int] = set()
    for letter in marked:
        index = LETTERS.index(letter.upper())
        if index >= n_options:
            return None
        indices.add(index)
    for m in _BARE.finditer(text):
        index = LETTERS.index(m.group(1))
        if index < n_options and _is_letter(text, m.start(1), m.group(1)):
            indices.add(index)
    return indices


def _is_letter(text: str, start: int, letter: str) -> bool:
    """False where ``a`` / ``I`` work as English words (followed by a word not in ``_NOT_AFTER_WORD``)."""
    if letter.upper() not in _WORD_LETTERS:
        return True
    following = _NEXT_WORD.match(text, start + 1)
    return following is None or following.group(1).casefold() in _NOT_AFTER_WORD


class McqAccuracy(Metric):
    name = "mcq_accuracy"
    version = "1"
    description = (
        "share of multiple-choice answers that pick the reference option (by letter A, B, ... or option text; "
        "conflicting or unreadable answers are wrong and counted as extraction failures: see mcq.py)"
    )
    reference = "pytest_audiollm.metrics.mcq.extract_choice (documented rules), exact-match accuracy on option index"
    stat_names = ("correct", "count", "unparsed")

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        if not context.choices:
            raise ValueError("mcq_accuracy needs the benchmark's 'choices' (the option texts, in order)")
        if len(context.choices) > len(LETTERS):
            raise ValueError(f"mcq_accuracy supports at most {len(LETTERS)} options, got {len(context.choices)}")
        if not references:
            raise ValueError("mcq_accuracy needs a reference (the correct option's text or letter)")
        truth = extract_choice(references[0], context.choices, context.synonyms)
        if truth is None:
            raise ValueError(f"reference {references[0]!r} names no single option of {list(context.choices)}")
        guess = extract_choice(prediction, context.choices, context.synonyms)
        return [1.0 if guess == truth else 0.0, 1.0, 1.0 if guess is None else 0.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)

    def details(self, totals: npt.NDArray[np.float64]) -> dict[str, float]:
        """Diagnostics of summed statistics of shape (k,): the share of answers no option could be read from."""
        return {"extraction_failure_rate": _rate(totals, 2, 1)}


def _rate(totals: npt.NDArray[np.float64], numerator: int, denominator: int) -> float:
    import numpy as np

    values = np.asarray(totals, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(values[..., numerator] / values[..., denominator])
