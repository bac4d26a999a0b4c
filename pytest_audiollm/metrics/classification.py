"""Classification by prompt: label matching from free text, accuracy and macro-F1."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.normalize import basic
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def match_label(prediction: str, choices: Sequence[str], synonyms: dict[str, tuple[str, ...]]) -> str | None:
    """The choice a free-text answer names, or None.

    Both sides are normalised (case, punctuation, whitespace). An answer equal to a choice or one of its
    synonyms names it; otherwise the choices whose name or synonym appears as whole words in the answer
    are candidates: one candidate is the answer, several are ambiguous (None) unless one candidate's
    matched phrase contains all the others (``sea waves`` over ``waves``).
    """
    answer = basic(prediction)
    if not answer:
        return None
    names = _label_forms(tuple(choices), tuple(sorted((k, tuple(v)) for k, v in synonyms.items())))
    exact = names.exact.get(answer)
    if exact is not None:
        return exact
    found: dict[str, str] = {}
    for choice, form, pattern in names.patterns:
        if pattern.search(answer) and len(form) > len(found.get(choice, "")):
            found[choice] = form
    if len(found) == 1:
        return next(iter(found))
    if found:
        longest = max(found.values(), key=len)
        if all(_whole_words(form).search(longest) for form in found.values()):
            return next(c for c, f in found.items() if f == longest)
    return None


@dataclass(frozen=True)
class _LabelForms:
    exact: dict[str, str]  # normalised name or synonym -> choice (the first choice wins a shared form)
    patterns: tuple[tuple[str, str, re.Pattern[str]], ...]  # (choice, form, whole-word pattern)


@functools.lru_cache(maxsize=256)
def _whole_words(form: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(form)}(?!\w)")


@functools.lru_cache(maxsize=64)
def _label_forms(choices: tuple[str, ...], synonyms: tuple[tuple[str, tuple[str, ...]], ...]) -> _LabelForms:
    """Normalised names of each choice, computed once per benchmark instead of once per sample."""
    extra = dict(synonyms)
    exact: dict[str, str] = {}
    patterns = []
    for choice in choices:
        for form in (basic(choice), *(basic(s) for s in extra.get(choice, ()))):
            exact.setdefault(form, choice)
            if form:
                patterns.append((choice, form, _whole_words(form)))
    return _LabelForms(exact, tuple(patterns))


def _reference_label(references: Sequence[str], context: ScoringContext) -> str | None:
    if not references:
        return None
    return match_label(references[0], context.choices, context.synonyms) if context.choices else basic(references[0])


class Accuracy(Metric):
    name = "accuracy"
    version = "1"
    description = "share of samples whose answer names the reference label (label matching: docs/reference/metrics.md)"
    reference = "sklearn.metrics.accuracy_score on the matched labels"
    stat_names = ("correct", "count")

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        truth = _reference_label(references, context)
        guess = match_label(prediction, context.choices, context.synonyms) if context.choices else basic(prediction)
        return [1.0 if truth is not None and guess == truth else 0.0, 1.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)


class MacroF1(Metric):
    """Labels: the benchmark's choices plus ``<unmatched>`` (an answer naming no choice); a label counts in the mean
    only when ``2TP + FP + FN > 0``, i.e. when it occurs in the references or the answers.

    Bootstrap convention: a resample weights each sample by how often it was drawn, and the value is computed from
    the weighted counts, so it equals ``f1_score(average="macro")`` of the resampled (repeated) rows. It is *not*
    scikit-learn's ``f1_score(..., sample_weight=w)``: that keeps every label of the unweighted rows, so a label
    whose samples all have weight 0 (not drawn) still counts, with F1 0, and lowers the mean. Without resampling
    (all weights 1) the two agree.
    """

    name = "macro_f1"
    version = "1"
    description = "unweighted mean over labels of F1 = 2TP / (2TP + FP + FN); an unmatched answer is its own label"
    reference = "sklearn.metrics.f1_score(average='macro', zero_division=0)"
    stat_names = ("tp, fp, fn per label",)

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        if not context.choices:
            raise ValueError("macro_f1 needs the benchmark's 'choices' (the label set)")
        labels = [*context.choices, "<unmatched>"]
        truth = _reference_label(references, context) or "<unmatched>"
        guess = match_label(prediction, context.choices, context.synonyms) or "<unmatched>"
        stats = [0.0] * (3 * len(labels))
        if truth == guess:
            stats[3 * labels.index(truth)] = 1.0
        else:
            stats[3 * labels.index(guess) + 1] = 1.0
            stats[3 * labels.index(truth) + 2] = 1.0
        return stats

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        per_label = totals.reshape(*totals.shape[:-1], -1, 3)
        tp, fp, fn = per_label[..., 0], per_label[..., 1], per_label[..., 2]
        denominator = 2 * tp + fp + fn
        present = denominator > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(present, 2 * tp / np.where(present, denominator, 1), 0.0)
            return np.asarray(f1.sum(axis=-1) / present.sum(axis=-1), dtype=np.float64)

    def sample_score(self, stats: Sequence[float]) -> float:
        return float(sum(stats[0::3]))  # 1 when right: one sample has no meaningful F1 of its own
