"""Captioning metrics computed at the gate, over the whole run's tokenised corpus, as pycocoevalcap computes them.

pycocoevalcap users tokenise all references as one document and all candidates as another
(``PTBTokenizer().tokenize(gts)``, ``PTBTokenizer().tokenize(res)``), and a caption's PTB tokens can depend on
its neighbours; so a caption metric cannot be computed on one sample alone. :class:`CaptionMetric` is a
:class:`CorpusMetric` that tokenises the corpus with :func:`~pytest_audiollm.metrics.tokenize.tokenize_corpus`
(shared by all caption metrics of a run), computes a matrix of per-sample sufficient statistics on the tokenised
text ONCE per corpus (cached, and shared between metrics of the same ``stats_family``: BLEU-1..4), and gives

- for bootstrap weights ``W`` (shape (B, n)): ``corpus(W @ stats)`` (one matrix product for all resamples);
- per-item scores: ``corpus`` of each item's own row.
"""

from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.protocol import CorpusMetric, ScoringContext, checked_weights

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_STATS_CACHE_SIZE = 16
_stats_cache: OrderedDict[tuple[object, ...], npt.NDArray[np.float64]] = OrderedDict()
_stats_lock = threading.Lock()


class CaptionMetric(CorpusMetric):
    """A captioning metric whose corpus value is a function of summed per-sample statistics of the tokenised corpus.

    Subclasses define ``tokenized_stats`` (statistics of tokenised text, shape (n, k)) and ``corpus``; they may
    narrow a shared statistics matrix with ``select`` (``stats_family`` names what is shared).
    """

    stat_names: tuple[str, ...] = ()
    stats_family: str = ""  # metrics of one family share one statistics matrix per corpus (default: the name)

    def unavailable(self, context: ScoringContext) -> str | None:
        from pytest_audiollm.metrics.tokenize import tokenizer_unavailable

        return tokenizer_unavailable(context.caption_tokenizer)

    @abc.abstractmethod
    def tokenized_stats(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> npt.NDArray[np.float64]:
        """Per-sample statistics (shape (n, k)) of tokenised predictions and references (space-joined tokens)."""

    @abc.abstractmethod
    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Corpus value from summed statistics; ``totals`` has shape (..., k), the result shape (...)."""

    def select(self, stats: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """This metric's columns of its family's statistics (all by default)."""
        return stats

    def prepare(self, context: ScoringContext) -> None:
        """Called before tokenising a corpus whose statistics are not cached (e.g. to start a JVM early)."""

    def stats(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> npt.NDArray[np.float64]:
        """The per-sample statistics of the corpus (shape (n, len(stat_names))), computed once per corpus."""
        import numpy as np

        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
        key = (
            self.stats_family or self.name,
            context.caption_tokenizer,
            tuple(predictions),
            tuple(tuple(refs) for refs in references),
        )
        with _stats_lock:
            found = _stats_cache.get(key)
            if found is not None:
                _stats_cache.move_to_end(key)
        if found is None:
            reason = self.unavailable(context)
            if reason is not None:
                raise RuntimeError(reason)
            if not predictions:
                found = np.zeros((0, len(self.stat_names)), dtype=np.float64)
            else:
                from pytest_audiollm.metrics.tokenize import tokenize_corpus

                self.prepare(context)
                tok_predictions, tok_references = tokenize_corpus(predictions, references, context.caption_tokenizer)
                found = np.asarray(self.tokenized_stats(tok_predictions, tok_references), dtype=np.float64)
                found.setflags(write=False)
            with _stats_lock:
                _stats_cache[key] = found
                while len(_stats_cache) > _STATS_CACHE_SIZE:
                    _stats_cache.popitem(last=False)
        return self.select(found)

    def corpus_scores(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        context: ScoringContext,
        weights: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        weights = checked_weights(weights, len(predictions))
        if len(predictions) == 0:
            return np.full(weights.shape[0], np.nan)
        stats = self.stats(predictions, references, context)
        totals = weights @ stats
        values = np.asarray(self.corpus(totals), dtype=np.float64)
        return np.where(weights.sum(axis=1) > 0, values, np.nan)

    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        if not predictions:
            return []
        return [float(x) for x in self.corpus(self.stats(predictions, references, context))]
