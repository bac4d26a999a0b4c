"""Multi-label classification by prompt: mean average precision (mAP) over the benchmark's labels.

References: a sample's ``references`` are its true labels (each one a label, matched to ``choices`` with
:func:`~pytest_audiollm.metrics.classification.match_label`; a reference that names no choice is an error).

Predictions: free text listing labels, separated by commas, semicolons or newlines, each optionally followed by a
score: ``dog: 0.8``, ``dog = 0.8``, ``dog (0.8)``, ``dog 0.8``, ``dog 80%`` (a percentage is divided by 100;
other numbers are taken as they are). Each item is matched to ``choices`` (names and synonyms) with
``match_label``; an item that names no choice, or several, is ignored. An item that equals a choice name or synonym
as a whole is that label with score 1.0 even when it ends in a number (``class 1``). A listed label without a
score gets 1.0, a label listed twice its highest score, and a choice not listed 0.0. Choices whose names contain
a separator (AudioSet's ``Male speech, man speaking``) are recognised across it.

mAP is the unweighted mean over labels of each label's average precision,
``AP = sum_k (R_k - R_(k-1)) P_k`` over the distinct score thresholds in decreasing order (sklearn's
``average_precision_score``, no interpolation). Deviation from sklearn: a label without a positive sample in the
(re)sampled corpus has no AP and is left out of the mean (sklearn warns and counts it as 0); with no such label the
values are equal. A corpus without any positive label has no mAP (nan).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.classification import match_label
from pytest_audiollm.metrics.normalize import basic
from pytest_audiollm.metrics.protocol import CorpusMetric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_SEPARATORS = re.compile(r"[,;\n]")
_NUMBER = r"(?P<score>[-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*(?P<percent>%)?"
_SCORE_SUFFIXES = (
    re.compile(rf"^(?P<label>.*?)\s*\(\s*{_NUMBER}\s*\)$", re.DOTALL),  # dog (0.8)
    re.compile(rf"^(?P<label>.*?)\s*[:=]\s*{_NUMBER}$", re.DOTALL),  # dog: 0.8, dog = 0.8
    re.compile(rf"^(?P<label>.*?)\s+{_NUMBER}$", re.DOTALL),  # dog 0.8, dog 80%
)


@functools.lru_cache(maxsize=64)
def _forms(choices: tuple[str, ...], synonyms: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[dict[str, str], int]:
    """Normalised name or synonym -> choice (the first choice wins), and the most separators in one raw form."""
    extra = dict(synonyms)
    exact: dict[str, str] = {}
    most = 0
    for choice in choices:
        for form in (choice, *extra.get(choice, ())):
            exact.setdefault(basic(form), choice)
            most = max(most, len(_SEPARATORS.findall(form)))
    exact.pop("", None)
    return exact, most


def _split_score(item: str) -> tuple[str, float | None]:
    """An item's label text and its score (None when it has none)."""
    for pattern in _SCORE_SUFFIXES:
        found = pattern.match(item)
        if found and found["label"].strip():
            score = float(found["score"])
            return found["label"], score / 100 if found["percent"] else score
    return item, None


def _item_label(
    item: str, choices: tuple[str, ...], synonyms: dict[str, tuple[str, ...]], exact: dict[str, str]
) -> tuple[str | None, float]:
    whole = exact.get(basic(item))
    if whole is not None:
        return whole, 1.0
    text, score = _split_score(item)
    return match_label(text, choices, synonyms), 1.0 if score is None else score


def label_scores(
    prediction: str, choices: Sequence[str], synonyms: Mapping[str, Sequence[str]] | None = None
) -> dict[str, float]:
    """The scores a free-text answer gives the choices it lists (unlisted choices are absent, i.e. 0.0).

    ``"Dog: 0.8; cat (30%), bird"`` with choices dog, cat, bird -> ``{"dog": 0.8, "cat": 0.3, "bird": 1.0}``.
    """
    synonym_items = tuple(sorted((k, tuple(v)) for k, v in (synonyms or {}).items()))
    return dict(_label_scores(prediction, tuple(choices), synonym_items))


@functools.lru_cache(maxsize=65536)
def _label_scores(
    prediction: str, choices: tuple[str, ...], synonym_items: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[tuple[str, float], ...]:
    exact, most = _forms(choices, synonym_items)
    synonyms = dict(synonym_items)
    pieces = [p.strip() for p in _SEPARATORS.split(prediction)]
    separators = _SEPARATORS.findall(prediction)
    scores: dict[str, float] = {}
    i = 0
    while i < len(pieces):
        item, stop = pieces[i], i + 1
        # a choice whose name contains separators: the longest run of pieces that is one label (score allowed)
        for end in range(min(len(pieces), i + most + 1), i + 1, -1):
            joined = "".join(p + s for p, s in zip(pieces[i : end - 1], separators[i : end - 1], strict=True))
            joined += pieces[end - 1]
            if basic(joined) in exact or basic(_split_score(joined)[0]) in exact:
                item, stop = joined, end
                break
        i = stop
        if not item.strip(" .!"):
            continue
        label, score = _item_label(item.rstrip(" ."), choices, synonyms, exact)
        if label is not None:
            scores[label] = max(score, scores.get(label, score))
    return tuple(scores.items())


def reference_labels(references: Sequence[str], context: ScoringContext) -> set[str]:
    """The choices a sample's references name; ValueError for a reference that names none."""
    labels = set()
    for reference in references:
        label = match_label(reference, context.choices, context.synonyms)
        if label is None:
            raise ValueError(f"reference label {reference!r} is not one of the benchmark's choices")
        labels.add(label)
    return labels


def score_matrix(
    predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """``(y_true, y_score)``, both of shape (n samples, n choices) in the order of ``context.choices``."""
    import numpy as np

    if not context.choices:
        raise ValueError("map needs the benchmark's 'choices' (the label set)")
    column = {choice: j for j, choice in enumerate(context.choices)}
    y_true = np.zeros((len(predictions), len(column)), dtype=bool)
    y_score = np.zeros((len(predictions), len(column)), dtype=np.float64)
    for i, (prediction, refs) in enumerate(zip(predictions, references, strict=True)):
        for label in reference_labels(refs, context):
            y_true[i, column[label]] = True
        for label, score in label_scores(prediction, context.choices, context.synonyms).items():
            y_score[i, column[label]] = score
    return y_true, y_score


def average_precision(
    y_true: npt.NDArray[np.bool_], y_score: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each column's average precision for each row of sample weights: shape (B, n labels).

    Equal to ``sklearn.metrics.average_precision_score(y_true[:, c], y_score[:, c], sample_weight=weights[b])``
    where column ``c`` has positive weight in row ``b``, and nan where it has none (sklearn: 0 and a warning).
    """
    import numpy as np

    weights = np.asarray(weights, dtype=np.float64)
    result = np.full((weights.shape[0], y_true.shape[1]), np.nan)
    for c in range(y_true.shape[1]):
        positive = y_true[:, c]
        if not positive.any():
            continue
        order = np.argsort(-y_score[:, c], kind="stable")
        scores = y_score[order, c]
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])  # one threshold per distinct score
        ordered = weights[:, order]
        seen = np.cumsum(np.add.reduceat(ordered, starts, axis=1), axis=1)  # weight at or above each threshold
        gained = np.add.reduceat(ordered * positive[order], starts, axis=1)  # positive weight at each threshold
        true_positives = np.cumsum(gained, axis=1)
        total = true_positives[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(gained > 0, true_positives / np.where(seen > 0, seen, 1), 0.0)
            result[:, c] = np.where(total > 0, (gained * precision).sum(axis=1) / total, np.nan)
    return result


def mean_average_precision(
    y_true: npt.NDArray[np.bool_], y_score: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """mAP for each row of sample weights, over the labels with a positive sample in that row (nan if none)."""
    import numpy as np

    per_label = average_precision(y_true, y_score, weights)
    present = np.isfinite(per_label)
    count = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(present, per_label, 0.0).sum(axis=1) / count, dtype=np.float64)


class MeanAveragePrecision(CorpusMetric):
    """Multi-label mean average precision (macro over labels): see the module docstring for parsing and rules.

    Per-sample scores: the average precision of the sample's own label scores against its true labels (how well
    its true labels outrank the others; sklearn ``average_precision_score(y_true[i], y_score[i])``); nan for a
    sample without true labels.
    """

    name = "map"
    version = "1"
    description = (
        "multi-label mean average precision: unweighted mean over labels (with a positive sample) of average "
        "precision; scores parsed from 'label: 0.8' lists, a listed label without a score 1.0, unlisted 0.0"
    )
    reference = "sklearn.metrics.average_precision_score(y_true, y_score, average='macro', sample_weight=w)"

    def corpus_scores(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        context: ScoringContext,
        weights: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        y_true, y_score = score_matrix(predictions, references, context)
        return mean_average_precision(y_true, y_score, weights)

    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        import numpy as np

        y_true, y_score = score_matrix(predictions, references, context)
        ones = np.ones((1, y_true.shape[1]), dtype=np.float64)
        return [
            float(average_precision(y_true[i : i + 1].T, y_score[i : i + 1].T, ones)[0, 0])
            for i in range(y_true.shape[0])
        ]
