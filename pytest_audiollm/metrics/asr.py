"""ASR: word and character error rates, corpus level (micro) and mean per utterance (macro).

The text is normalised by the benchmark's ``text_normalizer`` (``ScoringContext.text_normalizer``: ``none``,
``basic`` (``basic-1``), ``basic-2`` or ``whisper_english``; see :mod:`pytest_audiollm.metrics.normalize`). One
metric instance serves every benchmark, so a metric's ``version`` does not name the normaliser: the normaliser and
its version (``normalizer_version``) belong to the benchmark. ``unavailable`` says so when the normaliser cannot run
here (``whisper_english`` without the ``whisper-normalizer`` package).

The rules are jiwer 4.0's (``jiwer.wer`` / ``jiwer.cer`` with their default transforms, on the normalised text),
checked on a table of cases and on random text in ``tests/hostile/test_scoring.py`` and ``tests/parity/``:

- Words: jiwer's default word split of the normalised text (:func:`~pytest_audiollm.metrics.normalize.split_words`:
  runs of 2+ whitespace characters become one space, strip, split on U+0020 only; a lone tab or newline is inside a
  word). Characters: the normalised text without leading and trailing whitespace, every character counted
  (spaces, and under ``none`` double spaces and tabs, included). Only the first reference is used; a sample
  without references has an empty one.
- An utterance's rate is edits / reference units, and ``edits / 1`` when the reference is empty: every
  hypothesised unit is an insertion, so "x y z" against silence has WER 3, not 1 (jiwer 4.0, jitsi/jiwer#108; jiwer
  3 raised ValueError). The corpus (micro) rate is total edits / total reference units, and total edits when no
  reference has a unit (all insertions). The macro rate is the mean of the utterances' own rates.

Why this rule rather than capping an empty reference's rate at 1 (our version 1/2): the numbers equal the tool
everyone reports with, and a model that hallucinates ten words over silence scores ten times worse than one that
hallucinates one. The price: a macro rate (and a per-sample score) can exceed 1 by any amount; benchmarks with
many silent clips should read the micro rate, where such insertions count against all reference words.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.normalize import normalize, normalizer_unavailable, split_words
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions, each costing 1) between two token sequences.

    Computed by RapidFuzz (``rapidfuzz.distance.Levenshtein``, the library jiwer uses) on the tokens mapped to
    integers (equal tokens, equal integers: no reliance on hashes), as jiwer does: bit-parallel, so a 3,500-character
    CER takes milliseconds where the textbook O(n*m) loop took seconds. The values are those of that loop
    (property-tested against it in ``tests/hostile/test_scoring.py``).
    """
    from rapidfuzz.distance import Levenshtein

    if not reference or not hypothesis:
        return len(reference) + len(hypothesis)
    ids: dict[str, int] = {}
    ref_ids = [ids.setdefault(token, len(ids)) for token in reference]
    hyp_ids = [ids.setdefault(token, len(ids)) for token in hypothesis]
    return int(Levenshtein.distance(ref_ids, hyp_ids))


def word_tokens(text: str, normalizer: str = "basic") -> list[str]:
    """The words WER counts: the normalised text split as jiwer splits it (see the module docstring)."""
    return split_words(normalize(text, normalizer))


def char_tokens(text: str, normalizer: str = "basic") -> list[str]:
    """The characters CER counts: the normalised text without leading and trailing whitespace."""
    return list(normalize(text, normalizer).strip())


def utterance_rate(errors: float, reference_length: float) -> float:
    """One utterance's error rate: edits / reference units; for an empty reference, the edits (all insertions)."""
    return errors / max(reference_length, 1.0)


class _ErrorRate(Metric):
    higher_is_better = False

    @abc.abstractmethod
    def _tokens(self, text: str, normalizer: str) -> list[str]:
        """The units edits are counted in (words or characters)."""

    def unavailable(self, context: ScoringContext) -> str | None:
        return normalizer_unavailable(context.text_normalizer)

    def _edits(self, prediction: str, references: Sequence[str], context: ScoringContext) -> tuple[float, float]:
        reference = self._tokens(references[0], context.text_normalizer) if references else []
        hypothesis = self._tokens(prediction, context.text_normalizer)
        return float(edit_distance(reference, hypothesis)), float(len(reference))


class _MicroErrorRate(_ErrorRate):
    stat_names = ("errors", "reference_length")

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        return list(self._edits(prediction, references, context))

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        errors, length = totals[..., 0], totals[..., 1]
        # no reference unit at all: the insertions themselves, as jiwer 4.0 (module docstring)
        return np.asarray(errors / np.maximum(length, 1.0), dtype=np.float64)


class _MacroErrorRate(_ErrorRate):
    stat_names = ("utterance_rate", "utterances")

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        return [utterance_rate(*self._edits(prediction, references, context)), 1.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)

    def sample_score(self, stats: Sequence[float]) -> float:
        return float(stats[0])


class WordErrorRate(_MicroErrorRate):
    """Corpus (micro) WER: total word edits / total reference words (jiwer 4.0's ``wer`` on the normalised text).

    Version 3 follows jiwer 4.0 where version 2 did not: with no reference word in the corpus the value is the number
    of inserted words (version 2: 0 or 1), and words are split on spaces only, runs of 2+ whitespace characters
    counting as one (version 2 split on any whitespace; this changes values only with ``text_normalizer: none``).
    Version 2 made the normaliser the benchmark's ``text_normalizer`` (version 1 always used ``basic-1``).
    """

    name = "wer"
    version = "3"
    description = (
        "corpus word error rate: total word edits / total reference words (none at all: the inserted words), on the "
        "benchmark's normalised text, words split as jiwer splits them"
    )
    reference = "jiwer 4.0 jiwer.wer(references, hypotheses) on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return word_tokens(text, normalizer)


class CharacterErrorRate(_MicroErrorRate):
    """Corpus (micro) CER: total character edits / total reference characters, spaces count (jiwer 4.0's ``cer``).

    Version 3: with no reference character in the corpus the value is the number of inserted characters, as jiwer
    4.0 (version 2: 0 or 1). Version 2 made the normaliser the benchmark's ``text_normalizer``.
    """

    name = "cer"
    version = "3"
    description = (
        "corpus character error rate (spaces count; no reference character at all: the inserted characters), on the "
        "benchmark's normalised text"
    )
    reference = "jiwer 4.0 jiwer.cer(references, hypotheses) on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return char_tokens(text, normalizer)


class MacroWordErrorRate(_MacroErrorRate):
    """Macro WER: the mean over utterances of each utterance's WER (``jiwer.wer(reference, hypothesis)``).

    Version 2: an utterance whose normalised reference is empty scores its number of hypothesised words, as jiwer
    4.0 (version 1: 0 or 1), and words are split as jiwer splits them; a sample without references counts as one
    with an empty reference.
    """

    name = "wer_macro"
    version = "2"
    description = "mean per-utterance word error rate, on the normalised text (empty reference: the inserted words)"
    reference = "mean of jiwer 4.0 jiwer.wer(reference, hypothesis) per utterance on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return word_tokens(text, normalizer)


class MacroCharacterErrorRate(_MacroErrorRate):
    """Macro CER: the mean over utterances of each utterance's CER, spaces count (``jiwer.cer(reference, hypothesis)``).

    Version 2: an utterance whose normalised reference is empty scores its number of hypothesised characters, as
    jiwer 4.0 (version 1: 0 or 1); a sample without references counts as one with an empty reference.
    """

    name = "cer_macro"
    version = "2"
    description = "mean per-utterance character error rate (spaces count), normalised text, empty reference: insertions"
    reference = "mean of jiwer 4.0 jiwer.cer(reference, hypothesis) per utterance on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return char_tokens(text, normalizer)
