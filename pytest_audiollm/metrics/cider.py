"""CIDEr-D for captioning, equal to pycocoevalcap's ``Cider`` (which is CIDEr-D), with a fast weighted bootstrap.

pycocoevalcap (``cider/cider_scorer.py``), on captions already tokenised (split on whitespace):

- n-grams of orders 1..4 with raw counts ``tf``; ``df(g)`` = number of *items* whose reference set contains g
  (over the evaluated corpus only), ``ref_len = log(#items)``;
- per order, ``v[g] = tf(g) · (ref_len - log(max(1, df(g))))`` for the candidate and for each reference;
- similarity ``Σ_g min(v_h[g], v_r[g]) · v_r[g] / (‖v_h‖·‖v_r‖)`` (0 when a norm is 0), times the Gaussian
  length penalty ``exp(-(len_h - len_r)² / (2·6²))`` where len is — a quirk kept for equality — the number of
  *bigrams* (words - 1, 0 for an empty or one-word caption);
- item score = 10 x mean over the 4 orders of (sum over references / #references); corpus = mean of items.

Since every ``idf(g) = ref_len - log(max(1, df(g)))`` is ≥ 0, ``min(v_h, v_r)·v_r = idf²·min(tf_h, tf_r)·tf_r``
and ``‖v‖² = Σ idf²·tf²``: each numerator and squared norm is a fixed sparse row of n-gram coefficients times
the vector of ``idf²``. A bootstrap resample only changes ``#items`` and ``df`` (duplicated items count as
separate items, items drawn 0 times are absent), i.e. ``df = w @ presence`` and ``idf²``; so the corpus
values of a whole block of resamples are a few gathers and segment sums over those fixed rows (numpy only).
An n-gram found in the references of a single item has ``idf² = (log N - log max(1, w_i))²``, a number per
(item, resample): all of an item's such n-grams collapse into one coefficient per row, which removes most of
the 3- and 4-grams from the work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.protocol import CorpusMetric, ScoringContext, checked_weights

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ORDER = 4
SIGMA = 6.0
_CHUNK_ELEMENTS = 2_000_000  # at most this many entries x resamples at once (16 MB of float64)
_MAX_CHUNK = 16
_SHORT = 32  # sparse rows with more entries than this are summed with reduceat


def _ngram_counts(words: list[str]) -> list[Counter[tuple[str, ...]]]:
    return [Counter(zip(*(words[k:] for k in range(n)), strict=False)) for n in range(1, ORDER + 1)]


@dataclass(frozen=True)
class _Sparse:
    """A sparse matrix for products with blocks of dense rows: ``(B, n_columns) → (B, n_out)``.

    Rows with at most ``_SHORT`` entries are stored jagged-diagonal (rows by decreasing length; slot k holds
    the k-th entry of every row that has one), so the product is ``take`` plus one vector add per slot;
    longer rows are summed with ``np.add.reduceat``, which is fast on long segments. Output column
    ``position[row]`` holds a row's product; the last output column is 0 (the empty rows').
    """

    position: npt.NDArray[np.int64]
    n_out: int
    slots: tuple[int, ...]
    columns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    long_columns: npt.NDArray[np.int64]
    long_values: npt.NDArray[np.float64]
    long_starts: npt.NDArray[np.int64]

    @classmethod
    def build(
        cls, rows: npt.NDArray[np.int64], columns: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_rows: int
    ) -> _Sparse:
        import numpy as np

        by_row = np.argsort(rows, kind="stable")
        rows, columns, values = rows[by_row], columns[by_row], values[by_row]
        lengths = np.bincount(rows, minlength=n_rows)
        short = np.flatnonzero((lengths > 0) & (lengths <= _SHORT))
        short = short[np.argsort(-lengths[short], kind="stable")]
        long = np.flatnonzero(lengths > _SHORT)
        position = np.full(n_rows, short.size + long.size, dtype=np.int64)
        position[short] = np.arange(short.size)
        position[long] = short.size + np.arange(long.size)
        row_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        is_long = lengths[rows] > _SHORT
        slot = np.arange(rows.size) - row_start[rows]
        jagged = np.lexsort((position[rows][~is_long], slot[~is_long]))
        slots = np.bincount(slot[~is_long]) if short.size else np.zeros(0, dtype=np.int64)
        long_lengths = lengths[long]
        return cls(
            position=position,
            n_out=short.size + long.size + 1,
            slots=tuple(int(k) for k in slots),
            columns=columns[~is_long][jagged],
            values=values[~is_long][jagged],
            long_columns=columns[is_long],
            long_values=values[is_long],
            long_starts=(np.cumsum(long_lengths) - long_lengths).astype(np.int64),
        )

    def times(self, dense: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        out = np.zeros((dense.shape[0], self.n_out), dtype=np.float64)
        if self.slots:
            terms = np.take(dense, self.columns, axis=1)
            terms *= self.values
            at = self.slots[0]
            out[:, :at] = terms[:, :at]
            for size in self.slots[1:]:
                out[:, :size] += terms[:, at : at + size]
                at += size
        if self.long_starts.size:
            terms = np.take(dense, self.long_columns, axis=1)
            terms *= self.long_values
            first = sum(self.slots[:1])
            out[:, first : first + self.long_starts.size] = np.add.reduceat(terms, self.long_starts, axis=1)
        return out


@dataclass(frozen=True)
class _Corpus:
    """A tokenised corpus as fixed sparse rows of n-gram coefficients; see the module docstring.

    Columns (the idf² table): ``n_multi`` n-grams in the references of ≥ 2 items, then one column per item
    (its n-grams found in no other item's references), then one for n-grams in no reference at all.
    Rows: hypothesis (item, order) squared norms, then reference (reference, order) squared norms, then the
    (reference, order) numerators. The matrix is kept CSR-like: the non-empty rows, where each starts, and
    every entry's column and coefficient (entries of one row and column summed into one).
    """

    n: int
    n_multi: int
    df: _Sparse  # multi-item n-grams x items: their document frequency in a resample
    products: _Sparse  # rows (hypothesis norms², reference norms², numerators) x idf² columns
    hyp_column: npt.NDArray[np.int64]  # the hypothesis norm² of each (reference, order), as a product column
    ref_column: npt.NDArray[np.int64]
    num_column: npt.NDArray[np.int64]
    penalty: npt.NDArray[np.float64]  # the length penalty of each (reference, order)
    item_starts: npt.NDArray[np.int64]  # the first (reference, order) of each item
    n_refs: npt.NDArray[np.float64]

    @classmethod
    def build(cls, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> _Corpus:
        import numpy as np

        n = len(hyps)
        n_ref_rows = ORDER * sum(len(r) for r in refs)
        ids: dict[tuple[str, ...], int] = {}
        presence_items: list[int] = []
        presence_ids: list[int] = []
        rows: list[int] = []
        gram_ids: list[int] = []
        values: list[int] = []
        hyp_row: list[int] = []
        penalty: list[float] = []
        item_starts: list[int] = []
        n_refs: list[float] = []
        ref_base = ORDER * n  # the reference rows start after the hypothesis rows
        num_base = ref_base + n_ref_rows  # the numerator rows after those
        j = 0  # global reference index
        for i, (hyp_text, ref_texts) in enumerate(zip(hyps, refs, strict=True)):
            if not ref_texts:
                raise ValueError("CIDEr-D needs at least one reference per item")
            hyp_words = hyp_text.split()
            hyp_counts = _ngram_counts(hyp_words)
            hyp_len = max(0, len(hyp_words) - 1)
            for order, counts in enumerate(hyp_counts):
                row = i * ORDER + order
                for gram, count in counts.items():
                    rows.append(row)
                    gram_ids.append(ids.setdefault(gram, len(ids)))
                    values.append(count * count)
            present: set[int] = set()
            item_starts.append(j * ORDER)
            n_refs.append(float(len(ref_texts)))
            for ref_text in ref_texts:
                ref_words = ref_text.split()
                delta = float(hyp_len - max(0, len(ref_words) - 1))
                pen = float(np.e ** (-(delta**2) / (2 * SIGMA**2)))
                for order, counts in enumerate(_ngram_counts(ref_words)):
                    row = j * ORDER + order
                    hyp_row.append(i * ORDER + order)
                    penalty.append(pen)
                    hyp_order = hyp_counts[order]
                    for gram, count in counts.items():
                        gid = ids.setdefault(gram, len(ids))
                        present.add(gid)
                        rows.append(ref_base + row)
                        gram_ids.append(gid)
                        values.append(count * count)
                        in_hyp = hyp_order.get(gram)
                        if in_hyp is not None:
                            rows.append(num_base + row)
                            gram_ids.append(gid)
                            values.append(min(in_hyp, count) * count)
                j += 1
            presence_items.extend([i] * len(present))
            presence_ids.extend(present)

        # document frequencies: rows = n-grams in the references of ≥ 2 items, columns = items
        p_items = np.array(presence_items, dtype=np.int64)
        p_ids = np.array(presence_ids, dtype=np.int64)
        df = np.bincount(p_ids, minlength=len(ids))
        multi = df >= 2
        n_multi = int(multi.sum())
        multi_row = np.cumsum(multi) - 1
        in_multi = multi[p_ids]
        df_matrix = _Sparse.build(multi_row[p_ids[in_multi]], p_items[in_multi], np.ones(int(in_multi.sum())), n_multi)
        # the idf² column of every n-gram: its df row's output column, its item's column, or the last one
        column_of = np.full(len(ids), n_multi + n, dtype=np.int64)
        column_of[multi] = df_matrix.position
        single = df[p_ids] == 1
        column_of[p_ids[single]] = n_multi + p_items[single]
        n_rows = num_base + n_ref_rows
        products = _Sparse.build(
            np.array(rows, dtype=np.int64),
            column_of[np.array(gram_ids, dtype=np.int64)],
            np.array(values, dtype=np.float64),
            n_rows,
        )
        ref_rows = np.arange(n_ref_rows, dtype=np.int64)
        return cls(
            n=n,
            n_multi=n_multi,
            df=df_matrix,
            products=products,
            hyp_column=products.position[np.array(hyp_row, dtype=np.int64)],
            ref_column=products.position[ref_base + ref_rows],
            num_column=products.position[num_base + ref_rows],
            penalty=np.array(penalty, dtype=np.float64),
            item_starts=np.array(item_starts, dtype=np.int64),
            n_refs=np.array(n_refs, dtype=np.float64),
        )

    def item_scores(self, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per-item scores, shape (B, n), in each resample (row of ``weights``, shape (B, n))."""
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            log_n = np.log(weights.sum(axis=1))[:, None]
            idf2 = np.empty((weights.shape[0], self.n_multi + self.n + 1), dtype=np.float64)
            if self.n_multi:
                df = self.df.times(weights)[:, : self.n_multi]
                idf2[:, : self.n_multi] = np.square(log_n - np.log(np.maximum(1.0, df)))
            idf2[:, self.n_multi : -1] = np.square(log_n - np.log(np.maximum(1.0, weights)))
            idf2[:, -1:] = np.square(log_n)
            products = self.products.times(idf2)
            norms = np.sqrt(products[:, self.hyp_column]) * np.sqrt(products[:, self.ref_column])
            sims = np.divide(products[:, self.num_column], norms, out=np.zeros_like(norms), where=norms != 0)
        sims *= self.penalty
        per_item = np.add.reduceat(sims, self.item_starts, axis=1)
        return np.asarray(per_item / ORDER / self.n_refs * 10.0, dtype=np.float64)

    def chunk_size(self) -> int:
        entries = max(self.products.columns.size + self.products.long_columns.size, self.n_multi + self.n, 1)
        return max(1, min(_MAX_CHUNK, _CHUNK_ELEMENTS // entries))


class CiderD(CorpusMetric):
    """CIDEr-D over the evaluated corpus (its idf comes from the corpus' own references)."""

    name = "cider_d"
    version = "2"  # 2: corpus tokenised as pycocoevalcap does; 1: per-caption tokenisation
    description = "CIDEr-D: clipped tf-idf n-gram (1..4) similarity with a length penalty, x10, corpus idf"
    reference = (
        "pycocoevalcap.cider.Cider (1.2) after PTBTokenizer().tokenize of all references and of all predictions "
        "(caption_tokenizer: ptb)"
    )

    def __init__(self) -> None:
        self._cached: tuple[object, _Corpus] | None = None

    def unavailable(self, context: ScoringContext) -> str | None:
        from pytest_audiollm.metrics.tokenize import tokenizer_unavailable

        return tokenizer_unavailable(context.caption_tokenizer)

    def _corpus(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> _Corpus:
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
        key = (context.caption_tokenizer, tuple(predictions), tuple(tuple(r) for r in references))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        for refs in references:
            if not refs:
                raise ValueError("CIDEr-D needs at least one reference per item")
        from pytest_audiollm.metrics.tokenize import tokenize_corpus

        hyps, refs_tokens = tokenize_corpus(predictions, references, context.caption_tokenizer)
        corpus = _Corpus.build(hyps, refs_tokens)
        self._cached = (key, corpus)
        return corpus

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
        return corpus_values(self._corpus(predictions, references, context), weights)

    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        import numpy as np

        if not predictions:
            return []
        corpus = self._corpus(predictions, references, context)
        return [float(x) for x in corpus.item_scores(np.ones((1, corpus.n)))[0]]


def corpus_values(corpus: _Corpus, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Corpus CIDEr-D of each resample (row of ``weights``): the weighted mean of its items' scores."""
    import numpy as np

    out = np.empty(weights.shape[0], dtype=np.float64)
    step = corpus.chunk_size()
    for start in range(0, weights.shape[0], step):
        chunk = np.ascontiguousarray(weights[start : start + step])
        totals = chunk.sum(axis=1)
        scores = corpus.item_scores(chunk)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + step] = np.where(totals > 0, (chunk * scores).sum(axis=1) / totals, np.nan)
    return out
