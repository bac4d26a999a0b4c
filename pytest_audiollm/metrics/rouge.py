"""ROUGE-L for captioning, equal to pycocoevalcap's ``Rouge`` (β = 1.2, best precision and recall per reference).

pycocoevalcap (``rouge/rouge.py``) splits each tokenised caption on single spaces, computes the longest common
subsequence (LCS) with every reference, and takes ``P = max_r LCS/|c|`` and ``R = max_r LCS/|r|``
*independently* (they may come from different references); the item score is
``F = (1 + β²)·P·R / (R + β²·P)`` (0 when P or R is 0) and the corpus score is the mean of the item scores.

Because it splits on ``" "``, an empty caption is one empty token: an empty prediction scores 1 against an
empty reference (LCS 1 of 1) and 0 against non-empty ones. We keep that quirk so the numbers stay equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.captioning import CaptionMetric

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BETA = 1.2


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (bit-parallel, Hyyrö 2004)."""
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        match = masks.get(token)
        if match is not None:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l_score(candidate: str, references: Sequence[str]) -> float:
    """pycocoevalcap's ``Rouge.calc_score`` on one tokenised candidate and its tokenised references."""
    if not references:
        raise ValueError("ROUGE-L needs at least one reference")
    tokens_c = candidate.split(" ")
    prec_max = rec_max = 0.0
    for reference in references:
        tokens_r = reference.split(" ")
        lcs = lcs_length(tokens_r, tokens_c)
        prec_max = max(prec_max, lcs / float(len(tokens_c)))
        rec_max = max(rec_max, lcs / float(len(tokens_r)))
    if prec_max != 0 and rec_max != 0:
        return ((1 + BETA**2) * prec_max * rec_max) / float(rec_max + BETA**2 * prec_max)
    return 0.0


class RougeL(CaptionMetric):
    """ROUGE-L F-measure (β = 1.2) at the gate; statistics per sample are (F, 1) so the corpus value is the mean."""

    name = "rouge_l"
    version = "2"  # 2: corpus tokenised as pycocoevalcap does (at the gate); 1: per-sample tokenisation
    description = "ROUGE-L: LCS-based F-measure (beta 1.2, best precision and recall over the references), mean"
    reference = (
        "pycocoevalcap.rouge.Rouge (1.2) after PTBTokenizer().tokenize of all references and of all predictions "
        "(caption_tokenizer: ptb)"
    )
    stat_names = ("f", "count")

    def tokenized_stats(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        rows = [[rouge_l_score(hyp, refs), 1.0] for hyp, refs in zip(predictions, references, strict=True)]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2)

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)
