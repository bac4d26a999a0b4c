"""ASR: word and character error rates, corpus level (micro) and mean per utterance (macro).

The text is normalised by the benchmark's ``text_normalizer`` (``ScoringContext.text_normalizer``: ``none``,
``basic`` or ``whisper_english``; see :mod:`pytest_audiollm.metrics.normalize`). One metric instance serves
every benchmark, so a metric's ``version`` does not name the normaliser: the normaliser and its version
(``normalizer_version``) belong to the benchmark. ``unavailable`` says so when the normaliser cannot run here
(``whisper_english`` without the ``whisper-normalizer`` package).

Units: words are the whitespace-separated tokens of the normalised text; characters are those of the normalised
text without leading and trailing whitespace (spaces between words count). Only the first reference is used.

Empty references (after normalisation): an utterance's own rate is 0 when nothing was hypothesised and 1
otherwise. The corpus (micro) rate is total edits / total reference units; when every reference is empty it is
0 if nothing was hypothesised anywhere and 1 otherwise. The macro rate is the mean of the utterances' own rates.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.normalize import normalize, normalizer_unavailable
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
    """The words WER counts: whitespace-separated tokens of the normalised text."""
    return normalize(text, normalizer).split()


def char_tokens(text: str, normalizer: str = "basic") -> list[str]:
    """The characters CER counts: the normalised text without leading and trailing whitespace."""
    return list(normalize(text, normalizer).strip())


def utterance_rate(errors: float, reference_length: float) -> float:
    """One utterance's error rate: edits / reference units; for an empty reference, 0 if nothing else 1."""
    if reference_length > 0:
        return errors / reference_length
    return 1.0 if errors > 0 else 0.0


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
        with np.errstate(invalid="ignore", divide="ignore"):
            # empty references only: 0 when nothing was hypothesised, else 1 (docs: reference/metrics.md)
            return np.asarray(
                np.where(length > 0, errors / np.where(length > 0, length, 1), (errors > 0).astype(np.float64)),
                dtype=np.float64,
            )


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
    """Corpus (micro) WER: total word edits / total reference words.

    Version 2: the normaliser is the benchmark's ``text_normalizer`` (version 1 always used ``basic-1``; with
    ``basic`` the values are unchanged). Empty references: see the module docstring.
    """

    name = "wer"
    version = "2"
    description = "corpus word error rate: total word edits / total reference words, on the benchmark's normalised text"
    reference = "jiwer.wer(references, hypotheses) on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return word_tokens(text, normalizer)


class CharacterErrorRate(_MicroErrorRate):
    """Corpus (micro) CER: total character edits / total reference characters (spaces count).

    Version 2: the normaliser is the benchmark's ``text_normalizer`` (version 1 always used ``basic-1``; with
    ``basic`` the values are unchanged). Empty references: see the module docstring.
    """

    name = "cer"
    version = "2"
    description = "corpus character error rate (spaces count), on the benchmark's normalised text"
    reference = "jiwer.cer(references, hypotheses) on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return char_tokens(text, normalizer)


class MacroWordErrorRate(_MacroErrorRate):
    """Macro WER: the mean over utterances of each utterance's WER.

    An utterance whose normalised reference is empty scores 0 when its normalised hypothesis is empty too and 1
    otherwise (the same rule as the per-sample score of ``wer``); a sample without references counts as one with
    an empty reference.
    """

    name = "wer_macro"
    version = "1"
    description = "mean per-utterance word error rate, on the normalised text (empty reference: 0 or 1)"
    reference = "mean of jiwer.wer(reference, hypothesis) per utterance on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return word_tokens(text, normalizer)


class MacroCharacterErrorRate(_MacroErrorRate):
    """Macro CER: the mean over utterances of each utterance's CER (spaces count).

    An utterance whose normalised reference is empty scores 0 when its normalised hypothesis is empty too and 1
    otherwise (the same rule as the per-sample score of ``cer``); a sample without references counts as one with
    an empty reference.
    """

    name = "cer_macro"
    version = "1"
    description = "mean per-utterance character error rate (spaces count), normalised text, empty reference: 0 or 1"
    reference = "mean of jiwer.cer(reference, hypothesis) per utterance on the same normalised text"

    def _tokens(self, text: str, normalizer: str) -> list[str]:
        return char_tokens(text, normalizer)
