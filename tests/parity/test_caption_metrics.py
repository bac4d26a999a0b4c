"""ROUGE-L and CIDEr-D against pycocoevalcap (the reference implementation), known answers and the bootstrap.

pycocoevalcap gets the captions already tokenised the same way (``basic`` here; one end-to-end test with
``ptb`` when Java is available, and hypothesis-generated full-pipeline tests in test_java_metrics.py), as its
scorers expect tokenised input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocoevalcap.cider.cider import Cider  # type: ignore[import-untyped]
from pycocoevalcap.rouge.rouge import Rouge, my_lcs  # type: ignore[import-untyped]

from pytest_audiollm.metrics.cider import CiderD
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.rouge import RougeL, lcs_length
from pytest_audiollm.metrics.stats import aggregate_corpus, bootstrap
from pytest_audiollm.metrics.tokenize import tokenize_captions, tokenizer_unavailable

BASIC = ScoringContext(task="captioning", caption_tokenizer="basic")
VOCAB = ["a", "dog", "barks", "the", "car", "passes", "rain", "falls", "Café", "日本", "don't", "x"]

Corpus = list[tuple[str, list[str]]]


@st.composite
def captions(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 14)) == 0:
        return draw(st.text(st.characters(codec="utf-8"), max_size=12))
    tokens = draw(st.lists(st.sampled_from(VOCAB), max_size=9))
    sep = draw(st.sampled_from([" ", ", ", "  ", "\n"]))
    return sep.join(tokens) + draw(st.sampled_from(["", ".", "!"]))


corpora = st.lists(st.tuples(captions(), st.lists(captions(), min_size=1, max_size=4)), min_size=1, max_size=7)


def tokenised(corpus: Corpus) -> Corpus:
    return [(tokenize_captions([hyp], "basic")[0], tokenize_captions(refs, "basic")) for hyp, refs in corpus]


def coco_rouge(corpus: Corpus) -> tuple[float, list[float]]:
    pairs = tokenised(corpus)
    score, scores = Rouge().compute_score(
        {i: refs for i, (_, refs) in enumerate(pairs)}, {i: [h] for i, (h, _) in enumerate(pairs)}
    )
    return float(score), [float(s) for s in scores]


def coco_cider(corpus: Corpus, items: Sequence[int] | None = None) -> tuple[float, list[float]]:
    """pycocoevalcap's CIDEr-D of the corpus made of ``items`` (indices, repeats allowed; default: all)."""
    pairs = tokenised(corpus)
    chosen = list(range(len(pairs))) if items is None else list(items)
    gts = {k: pairs[i][1] for k, i in enumerate(chosen)}
    res = {k: [pairs[i][0]] for k, i in enumerate(chosen)}
    try:
        score, scores = Cider().compute_score(gts, res)
    except ValueError:  # no reference has any word: max() of no document frequencies; every score is 0
        return 0.0, [0.0] * len(chosen)
    return float(score), [float(s) for s in scores]


def our_cider(corpus: Corpus, weights: np.ndarray | None = None) -> np.ndarray:
    preds = [h for h, _ in corpus]
    refs = [r for _, r in corpus]
    w = np.ones((1, len(corpus))) if weights is None else weights
    return CiderD().corpus_scores(preds, refs, BASIC, w)


# ---------------------------------------------------------------------------------------------------------------
# ROUGE-L


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=14), st.lists(st.sampled_from("abcd"), max_size=14))
def test_lcs_equals_pycocoevalcap(a: list[str], b: list[str]) -> None:
    assert lcs_length(a, b) == my_lcs(a, b) == lcs_length(b, a)


@settings(max_examples=700, deadline=None)
@given(corpora)
def test_rouge_l_equals_pycocoevalcap(corpus: Corpus) -> None:
    metric = RougeL()
    preds, refs = [h for h, _ in corpus], [r for _, r in corpus]
    expected, expected_items = coco_rouge(corpus)
    value = aggregate_corpus(metric, preds, refs, BASIC, resamples=0).value
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert metric.sample_scores(preds, refs, BASIC) == pytest.approx(expected_items, rel=1e-12, abs=1e-12)


def _f(p: float, r: float) -> float:
    return (1 + 1.2**2) * p * r / (r + 1.2**2 * p)


def test_rouge_l_known_answers() -> None:
    metric = RougeL()

    def score(hyp: str, refs: list[str]) -> float:
        return metric.sample_scores([hyp], [refs], BASIC)[0]

    assert score("A dog barks.", ["a dog barks"]) == 1.0
    assert score("a b c", ["a c"]) == pytest.approx(_f(2 / 3, 1.0), rel=1e-15)
    assert score("dog", ["a dog barks"]) == pytest.approx(_f(1.0, 1 / 3), rel=1e-15)  # one word
    # precision and recall are maximised independently: here over different references
    assert score("a b", ["a b c d", "a"]) == pytest.approx(1.0, rel=1e-15)
    assert score("b a", ["a b"]) == pytest.approx(_f(0.5, 0.5), rel=1e-15)
    # pycocoevalcap splits on " ": an empty caption is one empty token
    assert score("", ["a dog"]) == 0.0
    assert score("", [""]) == 1.0
    assert score("!!!", ["", "a dog"]) == 1.0  # nothing left after tokenisation, like the empty reference
    assert score("a dog", [""]) == 0.0
    # unicode, case-folded by the basic tokenizer
    assert score("CAFÉ 日本", ["café 日本"]) == 1.0
    assert score("café", ["cafe"]) == 0.0
    with pytest.raises(ValueError, match="reference"):
        metric.sample_scores(["a"], [[]], BASIC)
    assert metric.name == "rouge_l"
    assert metric.corpus(np.array([[1.5, 2.0], [0.0, 1.0]])).tolist() == [0.75, 0.0]


# ---------------------------------------------------------------------------------------------------------------
# CIDEr-D


@settings(max_examples=700, deadline=None)
@given(corpora)
def test_cider_d_equals_pycocoevalcap(corpus: Corpus) -> None:
    expected, expected_items = coco_cider(corpus)
    metric = CiderD()
    preds, refs = [h for h, _ in corpus], [r for _, r in corpus]
    assert our_cider(corpus)[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    items = metric.sample_scores(preds, refs, BASIC)
    assert items == pytest.approx(expected_items, rel=1e-9, abs=1e-9)


@st.composite
def resampled(draw: st.DrawFn) -> tuple[Corpus, np.ndarray]:
    corpus = draw(corpora)
    n = len(corpus)
    rows = draw(st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4))
    rows = [r if sum(r) else [1] * n for r in rows]
    return corpus, np.asarray(rows, dtype=np.float64)


@settings(max_examples=300, deadline=None)
@given(resampled())
def test_cider_d_resamples_equal_pycocoevalcap_on_the_materialised_corpus(case: tuple[Corpus, np.ndarray]) -> None:
    corpus, weights = case
    values = our_cider(corpus, weights)
    for row, value in zip(weights, values, strict=True):
        items = [i for i, count in enumerate(row) for _ in range(int(count))]
        assert value == pytest.approx(coco_cider(corpus, items)[0], rel=1e-9, abs=1e-9)


def test_cider_d_multinomial_resamples_of_a_larger_corpus() -> None:
    rng = np.random.default_rng(3)
    words = ["a", "dog", "barks", "while", "car", "passes", "by", "rain", "falls", "on", "roof", "the"]

    def caption() -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(1, 12))))

    corpus = [(caption(), [caption() for _ in range(int(rng.integers(1, 6)))]) for _ in range(40)]
    weights = rng.multinomial(40, np.full(40, 1 / 40), size=25).astype(np.float64)
    weights[0] = 0
    weights[0, 7] = 40  # one item, 40 times
    values = our_cider(corpus, weights)
    for row, value in zip(weights, values, strict=True):
        items = [i for i, count in enumerate(row) for _ in range(int(count))]
        assert value == pytest.approx(coco_cider(corpus, items)[0], rel=1e-9, abs=1e-9)
    # each row alone gives the same value as in the block
    for k in (0, 5, 24):
        assert our_cider(corpus, weights[k : k + 1])[0] == pytest.approx(values[k], rel=1e-12, abs=1e-12)


def test_cider_d_known_answers() -> None:
    def cider(corpus: Corpus) -> tuple[float, list[float]]:
        preds, refs = [h for h, _ in corpus], [r for _, r in corpus]
        return float(our_cider(corpus)[0]), CiderD().sample_scores(preds, refs, BASIC)

    # one item: idf = log(1) - log(1) = 0 for everything
    assert cider([("a dog barks", ["a dog barks"])]) == (0.0, [0.0])
    # two items, each equal to its reference: unigram and bigram similarity 1, no 3- or 4-grams: 10 * 2/4
    value, items = cider([("a b", ["a b"]), ("c d", ["C d!"])])
    assert value == pytest.approx(5.0, rel=1e-12)
    assert items == pytest.approx([5.0, 5.0], rel=1e-12)
    # all n-grams of the first item occur in its references only (idf log 2 each): cosines of 0/1 vectors,
    # and the length penalty on the *bigram* counts (2 and 4)
    value, items = cider([("a b c", ["a b c d e"]), ("x y", ["x y"])])
    first = 10 * (3 / math.sqrt(15) + 2 / math.sqrt(8) + 1 / math.sqrt(3)) / 4 * math.exp(-4 / 72)
    assert items == pytest.approx([first, 5.0], rel=1e-12)
    assert value == pytest.approx((first + 5.0) / 2, rel=1e-12)
    # one-word caption: unigram only; "dog" is in both items' references (idf 0), "cat" only in one
    value, items = cider([("cat", ["cat", "dog"]), ("dog", ["dog"])])
    assert items == pytest.approx([10 * (1.0 + 0.0) / 2 / 4, 0.0], abs=1e-12)
    # empty caption, a caption of words found in no reference (they still count in its norm), unicode
    assert cider([("", ["a b"]), ("a b", ["a b"])])[1][0] == 0.0
    assert cider([("zz", ["a b"]), ("a b", ["c"])]) == (0.0, [0.0, 0.0])
    with_extra = cider([("a b zz", ["a b"]), ("c", ["c"])])[1][0]
    without = cider([("a b", ["a b"]), ("c", ["c"])])[1][0]
    assert 0 < with_extra < without
    assert cider([("CAFÉ 日本", ["café 日本"]), ("x", ["y"])])[1][0] == pytest.approx(5.0, rel=1e-12)
    # clipping: repeating a matched word does not raise the numerator past the reference's count
    assert cider([("a a a a", ["a b"]), ("c", ["c"])])[1][0] < cider([("a", ["a b"]), ("c", ["c"])])[1][0]
    # no reference has a word (pycocoevalcap raises ValueError from max() of nothing): 0
    assert cider([("a", [""]), ("b", ["..."])]) == (0.0, [0.0, 0.0])


def test_cider_d_edge_inputs() -> None:
    metric = CiderD()
    assert metric.name == "cider_d"
    assert metric.sample_scores([], [], BASIC) == []
    assert np.isnan(metric.corpus_scores([], [], BASIC, np.ones((2, 0)))).all()
    with pytest.raises(ValueError, match="reference"):
        metric.corpus_scores(["a"], [[]], BASIC, np.ones((1, 1)))
    with pytest.raises(ValueError, match="shape"):
        metric.corpus_scores(["a"], [["a"]], BASIC, np.ones((1, 2)))
    # an all-zero row is an empty corpus: NaN, like pycocoevalcap's mean of nothing
    values = metric.corpus_scores(["a b", "c"], [["a b"], ["c"]], BASIC, np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(values[0]) and values[1] > 0


def test_determinism_and_bootstrap() -> None:
    rng = np.random.default_rng(11)
    words = ["a", "dog", "barks", "car", "passes", "rain", "falls", "the"]
    preds = [" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(60)]
    refs = [[" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(3)] for _ in range(60)]
    first = aggregate_corpus(CiderD(), preds, refs, BASIC, seed=5, resamples=300)
    again = aggregate_corpus(CiderD(), preds, refs, BASIC, seed=5, resamples=300)
    assert first == again
    assert first.value == pytest.approx(coco_cider(list(zip(preds, refs, strict=True)))[0], rel=1e-9)
    assert first.ci95[0] < first.value < first.ci95[1]
    metric = CiderD()
    assert metric.sample_scores(preds, refs, BASIC) == metric.sample_scores(preds, refs, BASIC)
    rouge = RougeL()
    rows = rouge.stats(preds, refs, BASIC)
    assert rows.shape == (60, 2) and (rows == rouge.stats(preds, refs, BASIC)).all()
    agg = aggregate_corpus(rouge, preds, refs, BASIC, seed=5, resamples=300)
    assert agg == aggregate_corpus(RougeL(), preds, refs, BASIC, seed=5, resamples=300)
    assert agg == bootstrap(lambda w: rouge.corpus(w @ rows), 60, seed=5, resamples=300)  # W @ stats
    assert agg.value == pytest.approx(coco_rouge(list(zip(preds, refs, strict=True)))[0], rel=1e-12)


@pytest.mark.skipif(tokenizer_unavailable("ptb") is not None, reason=str(tokenizer_unavailable("ptb")))
def test_ptb_end_to_end_equals_pycocoevalcap() -> None:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # type: ignore[import-untyped]

    preds = ["A dog barks, loudly!", "Rain doesn't stop.", "The car (red) passes by", "Birds sing"]
    refs = [
        ["a dog is barking", "A dog barks loudly."],
        ["rain does not stop", "It's raining; rain falls."],
        ["a red car passes by", "the car passes"],
        ["birds are singing", "some birds sing - loudly"],
    ]
    context = ScoringContext(task="captioning", caption_tokenizer="ptb")
    gts = PTBTokenizer().tokenize({i: [{"caption": r} for r in rs] for i, rs in enumerate(refs)})
    res = PTBTokenizer().tokenize({i: [{"caption": p}] for i, p in enumerate(preds)})
    cider, cider_items = Cider().compute_score(gts, res)
    rouge, rouge_items = Rouge().compute_score(gts, res)
    metric = CiderD()
    assert metric.corpus_scores(preds, refs, context, np.ones((1, 4)))[0] == pytest.approx(cider, rel=1e-9)
    assert metric.sample_scores(preds, refs, context) == pytest.approx(list(cider_items), rel=1e-9)
    assert RougeL().sample_scores(preds, refs, context) == pytest.approx(list(rouge_items), rel=1e-12)
    assert RougeL().corpus_scores(preds, refs, context, np.ones((1, 4)))[0] == pytest.approx(rouge, rel=1e-12)
