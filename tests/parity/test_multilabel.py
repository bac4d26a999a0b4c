"""Multi-label mAP against sklearn.metrics.average_precision_score, and the parsing of free-text label lists.

The differential tests need scikit-learn (a dev extra) and skip without it. sklearn counts a label without a
positive sample as AP 0 (with a warning); ours leaves it out of the mean, so sklearn is compared on the labels
that have a positive (weighted) sample, and the relation between the two is checked as well.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_audiollm.metrics.multilabel import (
    MeanAveragePrecision,
    average_precision,
    label_scores,
    mean_average_precision,
    score_matrix,
)
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.stats import aggregate_corpus

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SETTINGS = settings(max_examples=300, deadline=None)
CHOICES = ("dog", "cat", "bird", "Male speech, man speaking", "class 1", "class 2")
SYNONYMS: dict[str, tuple[str, ...]] = {"dog": ("puppy",), "bird": ("birdsong", "chirping")}
CONTEXT = ScoringContext(task="multilabel", choices=CHOICES, synonyms=SYNONYMS)


def _sklearn_ap(y_true: Any, y_score: Any, weights: Any = None, average: str | None = "macro") -> Any:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No positive class found in y_true"
        return sklearn_metrics.average_precision_score(y_true, y_score, average=average, sample_weight=weights)


# ---------------------------------------------------------------------------------------------------------------
# parsing


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("Dog: 0.8; cat (30%), bird", {"dog": 0.8, "cat": 0.3, "bird": 1.0}),
        ("dog 80%\ncat = .5", {"dog": 0.8, "cat": 0.5}),
        ("dog 0.25, cat 3", {"dog": 0.25, "cat": 3.0}),  # numbers are taken as they are, % divides by 100
        ("dog (0.8).", {"dog": 0.8}),
        ("- puppy: 0.2\n- dog: 0.6\n- unicorn: 0.9", {"dog": 0.6}),  # synonyms; the highest score; unknown ignored
        ("Chirping, CAT!", {"bird": 1.0, "cat": 1.0}),
        ("I hear a dog", {"dog": 1.0}),
        ("dog and cat", {}),  # one item naming two labels is ambiguous
        ("dog: -1.5", {"dog": -1.5}),
        ("Male speech, man speaking: 0.9, dog", {"Male speech, man speaking": 0.9, "dog": 1.0}),
        ("male speech, man speaking", {"Male speech, man speaking": 1.0}),
        ("class 1, class 2 (0.3)", {"class 1": 1.0, "class 2": 0.3}),  # a whole label that ends in a number
        ("", {}),
        (" ;, \n", {}),
        ("nothing here", {}),
    ],
)
def test_label_scores_known_answers(prediction: str, expected: dict[str, float]) -> None:
    assert label_scores(prediction, CHOICES, SYNONYMS) == pytest.approx(expected)


def test_score_matrix_and_reference_errors() -> None:
    y_true, y_score = score_matrix(["dog: 0.5, cat", "bird 20%"], [["Dog"], ["birdsong", "cat"]], CONTEXT)
    assert y_true.tolist() == [[True, False, False, False, False, False], [False, True, True, False, False, False]]
    assert y_score.tolist() == [[0.5, 1.0, 0, 0, 0, 0], [0, 0, 0.2, 0, 0, 0]]
    with pytest.raises(ValueError, match="'unicorn' is not one of the benchmark's choices"):
        score_matrix(["dog"], [["unicorn"]], CONTEXT)
    with pytest.raises(ValueError, match="needs the benchmark's 'choices'"):
        score_matrix(["dog"], [["dog"]], ScoringContext(task="multilabel"))


# ---------------------------------------------------------------------------------------------------------------
# average precision against sklearn


@st.composite
def problems(draw: st.DrawFn) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Small label matrices with tied scores and rows of integer or fractional sample weights (zeros included)."""
    import numpy as np

    n = draw(st.integers(1, 10))
    k = draw(st.integers(2, 4))
    truth = draw(st.lists(st.lists(st.booleans(), min_size=k, max_size=k), min_size=n, max_size=n))
    scores = draw(
        st.lists(
            st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9, 1.0]), min_size=k, max_size=k), min_size=n, max_size=n
        )
    )
    weight = st.one_of(st.integers(0, 3).map(float), st.sampled_from([0.25, 0.5, 1.5]))
    weights = draw(st.lists(st.lists(weight, min_size=n, max_size=n), min_size=1, max_size=4))
    return np.array(truth, dtype=bool), np.array(scores), np.array(weights)


@SETTINGS
@given(problems())
def test_average_precision_equals_sklearn_per_weight_row(
    problem: tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> None:
    import numpy as np

    y_true, y_score, weights = problem
    per_label = average_precision(y_true, y_score, weights)
    values = mean_average_precision(y_true, y_score, weights)
    for row, w in enumerate(weights):
        has_positive = (w[:, None] * y_true).sum(axis=0) > 0
        for c in range(y_true.shape[1]):
            if has_positive[c]:
                expected = _sklearn_ap(y_true[:, c], y_score[:, c], w, average=None)
                assert per_label[row, c] == pytest.approx(expected, abs=1e-12)
            else:
                assert math.isnan(per_label[row, c])
        keep = np.flatnonzero(has_positive)
        if keep.size == 0:
            assert math.isnan(values[row])
            continue
        if keep.size == 1:
            expected = _sklearn_ap(y_true[:, keep[0]], y_score[:, keep[0]], w, average=None)
        else:
            expected = _sklearn_ap(y_true[:, keep], y_score[:, keep], w)
        assert values[row] == pytest.approx(expected, abs=1e-12)
        # sklearn over every label counts the labels without a positive sample as 0
        if w.sum() > 0 and (w > 0).sum() > 0:
            whole = _sklearn_ap(y_true, y_score, w)
            assert whole == pytest.approx(values[row] * keep.size / y_true.shape[1], abs=1e-12)


def test_average_precision_known_answers() -> None:
    import numpy as np

    y_true = np.array([[1], [0], [1], [0]], dtype=bool)
    y_score = np.array([[0.9], [0.8], [0.7], [0.1]])
    # ranks: P(1)=1 at recall 1/2, P(3)=2/3 at recall 1 -> (1 + 2/3) / 2
    assert average_precision(y_true, y_score, np.ones((1, 4)))[0, 0] == pytest.approx(5 / 6)
    # a tie between a positive and a negative at the top: one threshold with precision 1/2
    tied = np.array([[0.9], [0.9], [0.2], [0.1]])
    assert average_precision(y_true, tied, np.ones((1, 4)))[0, 0] == pytest.approx((0.5 * 0.5) + 0.5 * (2 / 3))
    # weight 2 on the negative ranked second, the second positive left out
    weights = np.array([[1.0, 2.0, 0.0, 1.0]])
    assert average_precision(y_true, y_score, weights)[0, 0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------------
# the metric, from text


def _render(scores: dict[str, float], style: int) -> str:
    if style == 0:
        return "; ".join(f"{label}: {score}" for label, score in scores.items())
    if style == 1:
        return "\n".join(f"- {label} ({score * 100:g}%)" for label, score in scores.items())
    return ", ".join(f"{label} {score}" for label, score in scores.items())


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(CHOICES), st.sampled_from([0.05, 0.25, 0.5, 0.75, 1.0]), max_size=4),
            st.sets(st.sampled_from(CHOICES), min_size=1, max_size=3),
            st.integers(0, 2),
        ),
        min_size=2,
        max_size=15,
    ),
    st.integers(0, 2**16),
)
def test_map_from_text_equals_sklearn(samples: list[tuple[dict[str, float], set[str], int]], seed: int) -> None:
    import numpy as np

    predictions = [_render(scores, style) for scores, _, style in samples]
    references = [sorted(labels) for _, labels, _ in samples]
    y_true = np.array([[c in labels for c in CHOICES] for _, labels, _ in samples])
    y_score = np.array([[scores.get(c, 0.0) for c in CHOICES] for scores, _, _ in samples])
    parsed_true, parsed_score = score_matrix(predictions, references, CONTEXT)
    assert (parsed_true == y_true).all()
    assert parsed_score == pytest.approx(y_score)

    metric = MeanAveragePrecision()
    rng = np.random.default_rng(seed)
    weights = np.vstack(
        [np.ones(len(samples)), rng.multinomial(len(samples), np.full(len(samples), 1 / len(samples)), 3)]
    )
    values = metric.corpus_scores(predictions, references, CONTEXT, weights)
    for row, w in enumerate(weights):
        keep = np.flatnonzero((w[:, None] * y_true).sum(axis=0) > 0)
        if keep.size == 1:
            expected = _sklearn_ap(y_true[:, keep[0]], y_score[:, keep[0]], w, average=None)
        else:
            expected = _sklearn_ap(y_true[:, keep], y_score[:, keep], w)
        assert values[row] == pytest.approx(expected, abs=1e-12)

    per_sample = metric.sample_scores(predictions, references, CONTEXT)
    for i, value in enumerate(per_sample):
        assert value == pytest.approx(_sklearn_ap(y_true[i], y_score[i], average=None), abs=1e-12)


def test_map_through_the_bootstrap() -> None:
    metric = MeanAveragePrecision()
    predictions = ["dog: 0.9, cat: 0.2", "cat: 0.8", "bird", "dog 10%, bird 60%", "nothing"]
    references = [["dog"], ["cat"], ["bird", "dog"], ["dog"], ["cat"]]
    result = aggregate_corpus(metric, predictions, references, CONTEXT, seed=1, resamples=300)
    y_true, y_score = score_matrix(predictions, references, CONTEXT)
    assert result.value == pytest.approx(_sklearn_ap(y_true[:, :3], y_score[:, :3]))
    assert 0.0 <= result.ci95[0] <= result.ci95[1] <= 1.0
    assert result.n == 5


def test_map_without_any_positive_label_is_nan() -> None:
    import numpy as np

    y_true = np.zeros((3, 2), dtype=bool)
    values = mean_average_precision(y_true, np.ones((3, 2)), np.ones((2, 3)))
    assert np.isnan(values).all()
    assert math.isnan(MeanAveragePrecision().sample_scores(["dog"], [[]], CONTEXT)[0])


def test_metric_declaration() -> None:
    metric = MeanAveragePrecision()
    assert (metric.name, metric.version, metric.higher_is_better) == ("map", "1", True)
    assert metric.unavailable(CONTEXT) is None


def test_map_bootstrap_is_fast() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    choices = tuple(f"label {chr(97 + i)}" for i in range(20))
    predictions, references = [], []
    for _ in range(1000):
        references.append(list(rng.choice(choices, rng.integers(1, 4), replace=False)))
        predictions.append(", ".join(f"{label}: {rng.random():.2f}" for label in rng.choice(choices, 5, replace=False)))
    context = ScoringContext(task="multilabel", choices=choices)
    start = time.perf_counter()
    result = aggregate_corpus(MeanAveragePrecision(), predictions, references, context, resamples=1000)
    elapsed = time.perf_counter() - start
    assert result.ci95[0] <= result.value <= result.ci95[1]
    assert elapsed < 10.0, f"1000 resamples x 1000 samples x 20 labels took {elapsed:.1f} s"
