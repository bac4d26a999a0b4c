"""BLEU-1..4 for captioning, with pycocoevalcap's corpus formula (closest reference length, its smoothing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.normalize import BASIC_NORMALIZER_VERSION, words
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_TINY = 1e-15
_SMALL = 1e-9


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class Bleu(Metric):
    """BLEU-n: statistics per sample are (hypothesis length, closest reference length, guesses_k, matches_k)."""

    reference = "pycocoevalcap.bleu.Bleu (corpus score, 'closest' reference length); tokenizer: basic-1"

    def __init__(self, order: int) -> None:
        self.order = order
        self.name = f"bleu_{order}"
        self.version = f"1+{BASIC_NORMALIZER_VERSION}"
        self.description = (
            f"BLEU-{order}: geometric mean of clipped 1..{order}-gram precisions times the brevity penalty"
        )
        self.stat_names = (
            "hyp_len",
            "ref_len",
            *(f"guess_{k}" for k in range(1, order + 1)),
            *(f"match_{k}" for k in range(1, order + 1)),
        )

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        hyp = words(prediction)
        refs = [words(r) for r in references] or [[]]
        ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        guesses, matches = [], []
        for k in range(1, self.order + 1):
            hyp_counts = _ngrams(hyp, k)
            best: Counter[tuple[str, ...]] = Counter()
            for ref in refs:
                best |= _ngrams(ref, k)
            guesses.append(float(max(0, len(hyp) - k + 1)))
            matches.append(float(sum(min(c, best[g]) for g, c in hyp_counts.items())))
        return [float(len(hyp)), float(ref_len), *guesses, *matches]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        n = self.order
        hyp_len, ref_len = totals[..., 0], totals[..., 1]
        guesses, matches = totals[..., 2 : 2 + n], totals[..., 2 + n : 2 + 2 * n]
        precision = np.prod((matches + _TINY) / (guesses + _SMALL), axis=-1) ** (1.0 / n)
        ratio = (hyp_len + _TINY) / (ref_len + _SMALL)
        with np.errstate(divide="ignore", over="ignore"):
            penalty = np.where(ratio < 1, np.exp(1 - 1 / np.maximum(ratio, _TINY)), 1.0)
        return np.asarray(precision * penalty, dtype=np.float64)
