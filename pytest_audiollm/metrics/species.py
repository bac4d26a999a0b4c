"""Bioacoustic species identification: the species a model names for a recording, against its accepted names.

**Reading an output.** NatureLM-audio answers one line per 10 s window, ``#0.00s - 10.00s#: Green Treefrog``.
Every ``#start - end#: label`` window in the output is read (several per line are allowed; the ``s`` units and the
colon are optional); other lines (``Here are the detections:``) are ignored. An output without any window header
is a plain answer: each non-empty line is read as one label (``Green Treefrog``, ``Hyla cinerea``).

**Names** (:func:`species_key`), applied alike to predictions, references and synonyms:

1. Unicode NFKC; markdown ``*`` and backticks dropped; trailing parenthesised parts dropped
   (``Hyla cinerea (Schneider, 1799)``, ``Green Treefrog (Hyla cinerea)`` -> the name before the parenthesis);
2. a scientific name followed by an authority keeps genus and species: two words, the second lowercase, then a
   capitalised word, a year, ``&`` or ``et al`` (``Turdus merula Linnaeus, 1758`` -> ``turdus merula``);
3. ``basic`` normalisation: case-folded, punctuation (hyphens included) to spaces, whitespace collapsed
   (``Green Tree-frog`` -> ``green tree frog``; note ``Treefrog`` and ``Tree frog`` stay different);
4. a leading article ``the`` / ``a`` / ``an`` is dropped;
5. an English plural on the last word is folded: ``-ies`` -> ``-y``, ``-ches``/``-shes``/``-sses``/``-xes`` ->
   drop ``es``, other ``-s`` dropped except after ``s``, ``u`` or ``i`` (so ``Turdus``, ``cinereus``, ``Ibis``
   keep theirs). The folding is the same on both sides, so it can only merge names that differ by such a suffix.

**Deciding.** Labels meaning "nothing" (``None``, ``no animal``, ``unknown``, ... see ``NULL_LABELS``) and empty
windows are ignored. The predicted species is the most frequent remaining label across windows, ties going to
the label seen first; the sample's accepted names (its references) and names grouped by the benchmark's synonyms
count as one label. The sample is correct when the predicted species is one of its accepted names (or their
synonyms), and unparseable when no label is left to vote on (empty output, only ``None`` windows).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.mcq import _rate
from pytest_audiollm.metrics.normalize import basic
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_NUMBER = r"\d+(?:\.\d+)?"
WINDOW = re.compile(rf"#\s*({_NUMBER})\s*s?\s*[-\u2013\u2014]\s*({_NUMBER})\s*s?\s*#\s*:?")
_TRAILING_PARENTHESIS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")
_AUTHORITY = re.compile(r"^\s*([A-Za-z]+)\s+([a-z]+)\s*,?\s+(?:[A-Z]|\d{4}|&|et al)")
_MARKUP = re.compile(r"[*`]")
_ARTICLE = re.compile(r"^(?:the|a|an) ")
NULL_LABELS = frozenset(
    {
        "none",
        "no animal",
        "no species",
        "no bird",
        "no call",
        "no vocalization",
        "no vocalisation",
        "nothing",
        "unknown",
        "silence",
        "n a",
        "na",
    }
)


@dataclass(frozen=True)
class Window:
    """One labelled window of an output (``start``/``end`` are None for a plain answer's line)."""

    start: float | None
    end: float | None
    label: str


def parse_windows(output: str) -> list[Window]:
    """The labelled windows of a model output (rules: module docstring)."""
    headers = list(WINDOW.finditer(output))
    if not headers:
        return [Window(None, None, line.strip()) for line in output.splitlines() if line.strip()]
    windows = []
    for i, header in enumerate(headers):
        stop = headers[i + 1].start() if i + 1 < len(headers) else len(output)
        label = output[header.end() : stop].split("\n", 1)[0].strip()
        windows.append(Window(float(header.group(1)), float(header.group(2)), label))
    return windows


def species_key(name: str) -> str:
    """The normalised form two names of the same species share (rules: module docstring)."""
    text = _MARKUP.sub("", unicodedata.normalize("NFKC", name)).strip()
    while True:
        stripped = _TRAILING_PARENTHESIS.sub("", text)
        if stripped == text or not stripped:  # "(Green Treefrog)" alone is kept
            break
        text = stripped
    authority = _AUTHORITY.match(text)
    if authority:
        text = f"{authority.group(1)} {authority.group(2)}"
    key = _ARTICLE.sub("", basic(text))
    return _fold_plural(key)


def _fold_plural(key: str) -> str:
    head, _, last = key.rpartition(" ")
    if len(last) > 3:
        if last.endswith("ies"):
            last = last[:-3] + "y"
        elif last.endswith(("ches", "shes", "sses", "xes")):
            last = last[:-2]
        elif last.endswith("s") and not last.endswith(("ss", "us", "is")):
            last = last[:-1]
    return f"{head} {last}" if head else last


def predicted_species(output: str, aliases: dict[str, str] | None = None) -> str | None:
    """The key of the most frequent non-null label (ties: the earliest), or None when no label can be read.

    ``aliases`` maps keys to the key that stands for their group (names of one species vote together).
    """
    aliases = aliases or {}
    votes: dict[str, int] = {}  # insertion order = first appearance
    for window in parse_windows(output):
        key = species_key(window.label)
        if not key or key in NULL_LABELS:
            continue
        key = aliases.get(key, key)
        votes[key] = votes.get(key, 0) + 1
    if not votes:
        return None
    return max(votes, key=lambda k: votes[k])  # max keeps the first of equal counts


def _alias_groups(groups: Iterable[Iterable[str]]) -> dict[str, str]:
    """Union of overlapping name groups: each key -> one representative key of its group."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for group in groups:
        keys = [k for k in (species_key(n) for n in group) if k]
        for key in keys[1:]:
            a, b = find(keys[0]), find(key)
            if a != b:
                parent[b] = a
    return {key: find(key) for key in parent}


class SpeciesAccuracy(Metric):
    name = "species_accuracy"
    version = "1"
    description = (
        "share of recordings whose predicted species (majority label over NatureLM-style '#start - end#: label' "
        "windows, or a plain answer) is one of the accepted common/scientific names (normalisation: see species.py)"
    )
    reference = "pytest_audiollm.metrics.species (documented rules), exact-match accuracy on normalised names"
    stat_names = ("correct", "count", "unparseable")

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        accepted = [r for r in references if species_key(r)]
        if not accepted:
            raise ValueError("species_accuracy needs at least one accepted species name as reference")
        synonym_groups = [(name, *others) for name, others in context.synonyms.items()]
        aliases = _alias_groups([*synonym_groups, accepted])
        truth = {aliases.get(species_key(r), species_key(r)) for r in accepted}
        guess = predicted_species(prediction, aliases)
        return [1.0 if guess in truth else 0.0, 1.0, 1.0 if guess is None else 0.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)

    def details(self, totals: npt.NDArray[np.float64]) -> dict[str, float]:
        """Diagnostics of summed statistics of shape (k,): the share of outputs no species label was read from."""
        return {"unparseable_rate": _rate(totals, 2, 1)}
