"""BLEU-1..4 for captioning, with pycocoevalcap's corpus formula (closest reference length, its smoothing).

Captions are tokenised with the benchmark's ``caption_tokenizer`` (``ptb``: pycocoevalcap's PTBTokenizer,
``basic``: basic-1 words) and split on whitespace, as pycocoevalcap's ``Bleu`` splits its tokenised input.
The version does not name the tokenizer: the benchmark settings record it (``caption_tokenizer``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.captioning import CaptionMetric

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_TINY = 1e-15
_SMALL = 1e-9
_MAX_ORDER = 4


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu_counts(hypothesis: str, references: Sequence[str]) -> list[float]:
    """pycocoevalcap's ``cook_test`` of one tokenised sample: hypothesis length, closest reference length,
    guesses of orders 1..4, clipped matches of orders 1..4 (10 numbers)."""
    hyp = hypothesis.split()
    refs = [r.split() for r in references] or [[]]
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    guesses, matches = [], []
    for k in range(1, _MAX_ORDER + 1):
        hyp_counts = _ngrams(hyp, k)
        best: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            best |= _ngrams(ref, k)
        guesses.append(float(max(0, len(hyp) - k + 1)))
        matches.append(float(sum(min(c, best[g]) for g, c in hyp_counts.items())))
    return [float(len(hyp)), float(ref_len), *guesses, *matches]


class Bleu(CaptionMetric):
    """BLEU-n at the gate: statistics per sample are (hypothesis length, closest reference length, guesses_k,
    matches_k) of the tokenised corpus; BLEU-1..4 share one computation per corpus."""

    reference = (
        "pycocoevalcap.bleu.Bleu (corpus score, 'closest' reference length) after PTBTokenizer().tokenize of all "
        "references and of all predictions (caption_tokenizer: ptb)"
    )
    stats_family = "bleu"

    def __init__(self, order: int) -> None:
        if not 1 <= order <= _MAX_ORDER:
            raise ValueError(f"BLEU order must be 1..{_MAX_ORDER}, not {order}")
        self.order = order
        self.name = f"bleu_{order}"
        self.version = "3"  # 3: corpus tokenised as pycocoevalcap does (at the gate); 2: per-sample tokenisation
        self.description = (
            f"BLEU-{order}: geometric mean of clipped 1..{order}-gram precisions times the brevity penalty"
        )
        self.stat_names = (
            "hyp_len",
            "ref_len",
            *(f"guess_{k}" for k in range(1, order + 1)),
            *(f"match_{k}" for k in range(1, order + 1)),
        )

    def tokenized_stats(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        rows = [bleu_counts(hyp, refs) for hyp, refs in zip(predictions, references, strict=True)]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 + 2 * _MAX_ORDER)

    def select(self, stats: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        n = self.order
        columns = [0, 1, *range(2, 2 + n), *range(2 + _MAX_ORDER, 2 + _MAX_ORDER + n)]
        return stats[:, columns]

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
