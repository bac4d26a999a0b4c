"""ASR: word and character error rates (corpus level) on ``basic`` normalised text."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.normalize import BASIC_NORMALIZER_VERSION, basic, words
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions) between two token sequences."""
    if not reference:
        return len(hypothesis)
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token)))
        previous = current
    return previous[-1]


class _ErrorRate(Metric):
    higher_is_better = False
    stat_names = ("errors", "reference_length")

    @abc.abstractmethod
    def _tokens(self, text: str) -> list[str]:
        """The units edits are counted in (words or characters)."""

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        reference = self._tokens(references[0]) if references else []
        hypothesis = self._tokens(prediction)
        return [float(edit_distance(reference, hypothesis)), float(len(reference))]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        errors, length = totals[..., 0], totals[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            # empty references only: 0 when nothing was hypothesised, else 1 (see README: empty references)
            return np.asarray(
                np.where(length > 0, errors / np.where(length > 0, length, 1), (errors > 0).astype(np.float64)),
                dtype=np.float64,
            )


class WordErrorRate(_ErrorRate):
    name = "wer"
    version = f"1+{BASIC_NORMALIZER_VERSION}"
    description = "corpus word error rate: total word edits / total reference words, after basic normalisation"
    reference = "jiwer.wer on the same normalised text"

    def _tokens(self, text: str) -> list[str]:
        return words(text)


class CharacterErrorRate(_ErrorRate):
    name = "cer"
    version = f"1+{BASIC_NORMALIZER_VERSION}"
    description = "corpus character error rate (spaces count as characters), after basic normalisation"
    reference = "jiwer.cer on the same normalised text"

    def _tokens(self, text: str) -> list[str]:
        return list(basic(text))
