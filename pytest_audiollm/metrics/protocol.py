"""The metric protocol: per-sample sufficient statistics whose sums give the corpus value.

A metric turns one (prediction, references) pair into a short vector of numbers (for WER: errors and
reference words; for BLEU: n-gram matches, guesses and lengths). The corpus value is a function of the
column sums, so a bootstrap resample is a weighted sum of rows: thousands of resamples cost one matrix
product instead of thousands of recomputations.
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


class Metric(abc.ABC):
    """A named, versioned metric. Subclass it and register an instance with ``registry.add``."""

    name: str = ""
    version: str = "1"
    higher_is_better: bool = True
    description: str = ""
    reference: str = ""  # the implementation our numbers equal
    stat_names: tuple[str, ...] = ()

    @abc.abstractmethod
    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        """Sufficient statistics of one sample (length ``len(stat_names)``)."""

    @abc.abstractmethod
    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Corpus value from summed statistics; ``totals`` has shape (..., k), the result shape (...)."""

    def sample_score(self, stats: Sequence[float]) -> float:
        """The per-sample score shown for one item (by default the corpus formula on that sample alone)."""
        import numpy as np

        return float(self.corpus(np.asarray(stats, dtype=np.float64)))
