"""The metric protocols.

``Metric`` (most metrics): one (prediction, references) pair becomes a short vector of numbers (for WER:
errors and reference words; for BLEU: n-gram matches, guesses and lengths). The corpus value is a function
of the column sums, so a bootstrap resample is a weighted sum of rows: thousands of resamples cost one
matrix product instead of thousands of recomputations.

``CorpusMetric`` (CIDEr-D, whose idf comes from the evaluated corpus): the corpus value is computed from all
predictions and references at once, for a matrix of per-sample resample weights.

Both may say they cannot run here (``unavailable``: Java missing, jars missing): their gates are then
skipped with that reason instead of failing.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class ScoringContext:
    """What a metric knows about the benchmark besides one prediction and its references."""

    task: str
    choices: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text_normalizer: str = "basic"  # ASR text normaliser: none | basic (basic-1) | basic-2 | whisper_english
    caption_tokenizer: str = "ptb"  # captioning tokenizer: ptb (Stanford PTBTokenizer, Java) | basic


class MetricInfo:
    """What every metric declares: name, version, direction, definition and reference implementation."""

    name: str = ""
    version: str = "1"
    higher_is_better: bool = True
    description: str = ""
    reference: str = ""  # the implementation our numbers equal

    def unavailable(self, context: ScoringContext) -> str | None:
        """Why this metric cannot run here (with what to install), or None when it can."""
        return None


class Metric(MetricInfo, abc.ABC):
    """A metric whose corpus value comes from summed per-sample statistics. Register an instance."""

    stat_names: tuple[str, ...] = ()

    @abc.abstractmethod
    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        """Sufficient statistics of one sample (length ``len(stat_names)``)."""

    @abc.abstractmethod
    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Corpus value from summed statistics; ``totals`` has shape (..., k), the result shape (...)."""

    def details(self, totals: npt.NDArray[np.float64]) -> dict[str, float]:
        """Extra corpus numbers reported next to the value (e.g. an extraction-failure rate); none by default."""
        return {}

    def sample_score(self, stats: Sequence[float]) -> float:
        """The per-sample score shown for one item (by default the corpus formula on that sample alone)."""
        import numpy as np

        return float(self.corpus(np.asarray(stats, dtype=np.float64)))


class CorpusMetric(MetricInfo, abc.ABC):
    """A metric whose corpus value needs the whole corpus at once (CIDEr-D: document frequencies)."""

    @abc.abstractmethod
    def corpus_scores(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        context: ScoringContext,
        weights: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        """Corpus value for each row of ``weights`` (shape (B, n): how often each sample is in a resample)."""

    @abc.abstractmethod
    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        """Per-sample scores within the whole corpus (shown in the results, not on sample items)."""


def checked_weights(weights: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    """``weights`` as a float64 (B, n) array of resample counts; a wrong shape is a ValueError."""
    import numpy as np

    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n:
        raise ValueError(f"weights must have shape (B, {n}), not {array.shape}")
    return array


AnyMetric = MetricInfo  # Metric | CorpusMetric | generation metrics (pytest_audiollm.metrics.generation.protocol)
