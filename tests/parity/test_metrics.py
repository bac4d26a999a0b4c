"""Metrics against the implementations they claim to equal (scikit-learn, jiwer, pycocoevalcap) and known answers.

The differential tests need the dev extras scikit-learn, jiwer and pycocoevalcap; each skips when its package is
not installed. Every corpus value goes through ``stats.aggregate`` (resamples=0), the path the gates use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_audiollm.metrics.asr import CharacterErrorRate, WordErrorRate, edit_distance
from pytest_audiollm.metrics.bleu import Bleu
from pytest_audiollm.metrics.classification import Accuracy, MacroF1, match_label
from pytest_audiollm.metrics.normalize import basic, words
from pytest_audiollm.metrics.protocol import Metric, ScoringContext
from pytest_audiollm.metrics.stats import aggregate

FAST = settings(max_examples=60, deadline=None)

# ---------------------------------------------------------------------------------------------------------------
# label matching

CHOICES = ("dog", "cat", "sea waves", "waves", "car horn")
SYNONYMS: dict[str, tuple[str, ...]] = {"dog": ("puppy", "hound"), "car horn": ("honk", "klaxon")}
CONTEXT = ScoringContext(task="classification", choices=CHOICES, synonyms=SYNONYMS)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # exact, case and punctuation
        ("dog", "dog"),
        ("Dog.", "dog"),
        ("  DOG!! ", "dog"),
        ("cat?", "cat"),
        ("Car-Horn", "car horn"),
        ("CAR   horn", "car horn"),
        # synonyms, alone and inside a sentence
        ("Puppy", "dog"),
        ("it is a puppy", "dog"),
        ("the sound of a honk", "car horn"),
        ("KLAXON!", "car horn"),
        # whole-word containment
        ("I think it's a dog barking", "dog"),
        ("hotdog", None),
        ("dogs", None),
        ("a catalogue", None),
        # a choice named twice through its own synonyms is still one candidate
        ("a dog, maybe a puppy", "dog"),
        # ambiguity
        ("a dog and a cat", None),
        ("a cat or a honk", None),
        # longest phrase: "sea waves" contains "waves"
        ("sea waves", "sea waves"),
        ("waves", "waves"),
        ("I hear sea waves crashing", "sea waves"),
        ("waves", "waves"),
        # nothing
        ("", None),
        ("...", None),
        ("no idea", None),
    ],
)
def test_match_label_known_answers(answer: str, expected: str | None) -> None:
    assert match_label(answer, CHOICES, SYNONYMS) == expected


def test_match_label_containment_is_whole_word() -> None:
    # "rain" is a substring of "train" but here it is named as a word of its own: two labels, ambiguous
    assert match_label("a train in the rain", ("rain", "train"), {}) is None
    assert match_label("a train passing", ("rain", "train"), {}) == "train"
    assert match_label("heavy rain", ("rain", "heavy rain"), {}) == "heavy rain"


def test_match_label_without_choices_matches_nothing() -> None:
    assert match_label("dog", (), {}) is None


def test_accuracy_counts_an_unmatched_reference_as_wrong() -> None:
    metric = Accuracy()
    assert metric.sample_stats("no idea", ["silence"], CONTEXT) == [0.0, 1.0]
    assert metric.sample_stats("Dog!", ["dog"], CONTEXT) == [1.0, 1.0]
    assert metric.sample_stats("Dog!", [], CONTEXT) == [0.0, 1.0]


def test_accuracy_without_choices_compares_normalised_text() -> None:
    metric = Accuracy()
    context = ScoringContext(task="qa")
    assert metric.sample_stats("Paris.", ["paris"], context) == [1.0, 1.0]
    assert metric.sample_stats("in Paris", ["paris"], context) == [0.0, 1.0]


def test_macro_f1_needs_choices() -> None:
    with pytest.raises(ValueError, match="choices"):
        MacroF1().sample_stats("dog", ["dog"], ScoringContext(task="classification"))


def test_macro_f1_sample_score_is_one_when_right() -> None:
    metric = MacroF1()
    assert metric.sample_score(metric.sample_stats("a puppy", ["dog"], CONTEXT)) == 1.0
    assert metric.sample_score(metric.sample_stats("a cat", ["dog"], CONTEXT)) == 0.0


# free-text answers: matched, synonyms, longest-phrase, ambiguous, unmatched, empty
ANSWERS = [
    "dog",
    "Dog.",
    "it's a puppy",
    "CAT",
    "I hear SEA WAVES",
    "waves",
    "a honk!",
    "car horn",
    "dog and cat",
    "no idea",
    "",
    "hotdog",
    "Ünïcödé ☃",
]
REFERENCES = ["dog", "Cat", "sea waves", "waves", "car horn", "Car Horn."]
UNMATCHED_REFERENCES = ["silence", ""]


def _label(text: str) -> str:
    return match_label(text, CHOICES, SYNONYMS) or "<unmatched>"


@FAST
@given(
    st.lists(st.tuples(st.sampled_from(ANSWERS), st.sampled_from(REFERENCES)), min_size=1, max_size=40),
)
def test_accuracy_equals_sklearn(pairs: list[tuple[str, str]]) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    metric = Accuracy()
    rows = [metric.sample_stats(answer, [ref], CONTEXT) for answer, ref in pairs]
    expected = sklearn_metrics.accuracy_score([_label(r) for _, r in pairs], [_label(a) for a, _ in pairs])
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(expected, abs=1e-12)


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(ANSWERS), st.sampled_from(REFERENCES + UNMATCHED_REFERENCES)),
        min_size=1,
        max_size=40,
    ),
)
def test_macro_f1_equals_sklearn(pairs: list[tuple[str, str]]) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    metric = MacroF1()
    rows = [metric.sample_stats(answer, [ref], CONTEXT) for answer, ref in pairs]
    y_true = [_label(r) for _, r in pairs]
    y_pred = [_label(a) for a, _ in pairs]
    expected = sklearn_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(expected, abs=1e-12)


@FAST
@given(st.lists(st.tuples(st.sampled_from(ANSWERS), st.sampled_from(ANSWERS)), min_size=1, max_size=30))
def test_accuracy_without_choices_equals_sklearn(pairs: list[tuple[str, str]]) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    metric = Accuracy()
    context = ScoringContext(task="qa")
    rows = [metric.sample_stats(answer, [ref], context) for answer, ref in pairs]
    expected = sklearn_metrics.accuracy_score([basic(r) for _, r in pairs], [basic(a) for a, _ in pairs])
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# WER / CER

VOCAB = ["the", "cat", "sat", "on", "a", "mat", "Straße", "naïve", "café", "日本語", "don't", "ŉ", "ﬁne"]
SEPARATORS = [" ", "  ", ", ", ". ", "\t", "\n", " - ", "!", "_"]


@st.composite
def sentences(draw: st.DrawFn) -> str:
    """Realistic sentences (shared vocabulary, so edits are small) or arbitrary unicode text."""
    if draw(st.booleans()):
        tokens = draw(st.lists(st.sampled_from(VOCAB), max_size=12))
        seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(tokens), max_size=len(tokens)))
        text = "".join(t + s for t, s in zip(tokens, seps, strict=True))
        if draw(st.booleans()):
            text = text.upper()
        return text
    return draw(st.text(st.characters(codec="utf-8"), max_size=40))


def _reference_edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[len(a)][len(b)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=9), st.lists(st.sampled_from("abcd"), max_size=9))
def test_edit_distance_equals_reference_dp(a: list[str], b: list[str]) -> None:
    assert edit_distance(a, b) == _reference_edit_distance(a, b)
    assert edit_distance(b, a) == edit_distance(a, b)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "distance"),
    [
        ([], [], 0),
        ([], ["a", "b"], 2),
        (["a", "b"], [], 2),
        (["kitten"], ["kitten"], 0),
        (list("kitten"), list("sitting"), 3),
        (["the", "cat", "sat"], ["the", "sat"], 1),
        (["the", "cat", "sat"], ["a", "cat", "sat", "down"], 2),
    ],
)
def test_edit_distance_known_answers(reference: list[str], hypothesis: list[str], distance: int) -> None:
    assert edit_distance(reference, hypothesis) == distance


@FAST
@given(st.lists(st.tuples(sentences(), sentences()), min_size=1, max_size=8))
def test_wer_and_cer_equal_jiwer(pairs: list[tuple[str, str]]) -> None:
    jiwer = pytest.importorskip("jiwer")
    references = [basic(ref) for ref, _ in pairs]
    hypotheses = [basic(hyp) for _, hyp in pairs]
    for metric, expected in (
        (WordErrorRate(), jiwer.wer(references, hypotheses)),
        (CharacterErrorRate(), jiwer.cer(references, hypotheses)),
    ):
        rows = [metric.sample_stats(hyp, [ref], ScoringContext(task="asr")) for ref, hyp in pairs]
        assert aggregate(metric, rows, resamples=0).value == pytest.approx(expected, abs=1e-12), metric.name
        for (ref, hyp), row in zip(pairs, rows, strict=True):
            single = jiwer.wer(basic(ref), basic(hyp)) if metric.name == "wer" else jiwer.cer(basic(ref), basic(hyp))
            assert metric.sample_score(row) == pytest.approx(single, abs=1e-12)


def test_wer_known_answer() -> None:
    metric = WordErrorRate()
    context = ScoringContext(task="asr")
    # normalisation makes case and punctuation free; one substitution and one deletion over 6 reference words
    rows = [
        metric.sample_stats("The cat, sat!", ["the cat sat"], context),
        metric.sample_stats("on the hat", ["on the mat"], context),
    ]
    assert rows[0] == [0.0, 3.0]
    assert rows[1] == [1.0, 3.0]
    assert aggregate(metric, rows, resamples=0).value == pytest.approx(1 / 6)
    # CER counts spaces
    assert CharacterErrorRate().sample_stats("ab", ["a b"], context) == [1.0, 3.0]


def test_error_rate_uses_the_first_reference_only() -> None:
    assert WordErrorRate().sample_stats("a b", ["a b", "x y z"], ScoringContext(task="asr")) == [0.0, 2.0]


@pytest.mark.parametrize("metric", [WordErrorRate(), CharacterErrorRate()], ids=lambda m: m.name)
def test_empty_reference_policy(metric: Metric) -> None:
    context = ScoringContext(task="asr")
    empty_empty = metric.sample_stats("", [""], context)
    empty_some = metric.sample_stats("hello there", ["..."], context)
    no_references = metric.sample_stats("", [], context)
    assert empty_empty == [0.0, 0.0]
    assert metric.sample_score(empty_empty) == 0.0
    assert metric.sample_score(no_references) == 0.0
    assert empty_some[1] == 0.0
    inserted = 2.0 if metric.name == "wer" else 11.0  # 'hello there': 2 words, 11 characters, all inserted
    assert metric.sample_score(empty_some) == inserted
    # a corpus of empty references only: the inserted units (jiwer 4.0)
    assert aggregate(metric, [empty_empty, empty_empty], resamples=0).value == 0.0
    assert aggregate(metric, [empty_empty, empty_some], resamples=0).value == inserted
    # mixed with a non-empty reference, the inserted tokens count against the total reference length
    other = metric.sample_stats("ab", ["ab"], context)
    value = aggregate(metric, [empty_some, other], resamples=0).value
    assert value == pytest.approx(empty_some[0] / other[1])


# ---------------------------------------------------------------------------------------------------------------
# BLEU

CAPTION_VOCAB = ["a", "dog", "barks", "loudly", "the", "car", "passes", "rain", "falls", "Café", "日本"]


@st.composite
def captions(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(st.characters(codec="utf-8"), max_size=20))
    tokens = draw(st.lists(st.sampled_from(CAPTION_VOCAB), max_size=10))
    sep = draw(st.sampled_from([" ", ", ", "  ", "\n"]))
    return sep.join(tokens) + draw(st.sampled_from(["", ".", "!"]))


def _coco_bleu(pairs: Sequence[tuple[str, Sequence[str]]], order: int) -> tuple[list[float], list[list[float]]]:
    """pycocoevalcap's corpus formula, written out (used when pycocoevalcap is not installed)."""
    tiny, small = 1e-15, 1e-9
    testlen = reflen = 0
    guess, correct = [0] * order, [0] * order
    per_sample: list[list[float]] = [[] for _ in range(order)]

    def ngrams(tokens: list[str], k: int) -> dict[tuple[str, ...], int]:
        out: dict[tuple[str, ...], int] = {}
        for i in range(len(tokens) - k + 1):
            out[tuple(tokens[i : i + k])] = out.get(tuple(tokens[i : i + k]), 0) + 1
        return out

    for hyp_text, ref_texts in pairs:
        hyp = hyp_text.split()
        refs = [r.split() for r in ref_texts]
        closest = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        g = [max(0, len(hyp) - k + 1) for k in range(1, order + 1)]
        c = []
        for k in range(1, order + 1):
            best: dict[tuple[str, ...], int] = {}
            for r in refs:
                for gram, count in ngrams(r, k).items():
                    best[gram] = max(best.get(gram, 0), count)
            c.append(sum(min(count, best.get(gram, 0)) for gram, count in ngrams(hyp, k).items()))
        testlen += len(hyp)
        reflen += closest
        bleu = 1.0
        for k in range(order):
            guess[k] += g[k]
            correct[k] += c[k]
            bleu *= (c[k] + tiny) / (g[k] + small)
            per_sample[k].append(bleu ** (1.0 / (k + 1)))
        ratio = (len(hyp) + tiny) / (closest + small)
        if ratio < 1:
            for k in range(order):
                per_sample[k][-1] *= math.exp(1 - 1 / ratio)
    scores = []
    bleu = 1.0
    for k in range(order):
        bleu *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(bleu ** (1.0 / (k + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores, per_sample


def _reference_bleu(pairs: Sequence[tuple[str, Sequence[str]]], order: int) -> tuple[list[float], list[list[float]]]:
    try:
        from pycocoevalcap.bleu.bleu import Bleu as CocoBleu  # type: ignore[import-untyped]
    except ImportError:
        return _coco_bleu(pairs, order)
    gts = {i: list(refs) for i, (_, refs) in enumerate(pairs)}
    res = {i: [hyp] for i, (hyp, _) in enumerate(pairs)}
    score, scores = CocoBleu(order).compute_score(gts, res, verbose=0)
    return list(score), [list(s) for s in scores]


BASIC_CAPTIONS = ScoringContext(task="captioning", caption_tokenizer="basic")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(captions(), st.lists(captions(), min_size=1, max_size=4)), min_size=1, max_size=6))
def test_bleu_equals_pycocoevalcap(raw: list[tuple[str, list[str]]]) -> None:
    # pycocoevalcap gets the same tokens (basic tokenizer), pre-tokenised and joined with spaces; the ptb
    # tokenizer's full pipeline is compared in test_java_metrics.py
    tokenised = [(" ".join(words(hyp)), [" ".join(words(r)) for r in refs]) for hyp, refs in raw]
    expected, expected_per_sample = _reference_bleu(tokenised, 4)
    written_out, written_out_per_sample = _coco_bleu(tokenised, 4)
    preds, refs = [hyp for hyp, _ in raw], [r for _, r in raw]
    ones = np.ones((1, len(raw)))
    for order in range(1, 5):
        metric = Bleu(order)
        value = float(metric.corpus_scores(preds, refs, BASIC_CAPTIONS, ones)[0])
        assert value == pytest.approx(expected[order - 1], rel=1e-9, abs=1e-12), order
        assert value == pytest.approx(written_out[order - 1], rel=1e-9, abs=1e-12), order
        per_sample = metric.sample_scores(preds, refs, BASIC_CAPTIONS)
        assert per_sample == pytest.approx(expected_per_sample[order - 1], rel=1e-9, abs=1e-12)
        assert per_sample == pytest.approx(written_out_per_sample[order - 1], rel=1e-9, abs=1e-12)


def test_bleu_known_answers() -> None:
    context = BASIC_CAPTIONS

    def stats(metric: Bleu, hyp: str, refs: list[str]) -> list[float]:
        return [float(x) for x in metric.stats([hyp], [refs], context)[0]]

    def score(metric: Bleu, hyp: str, refs: list[str]) -> float:
        return metric.sample_scores([hyp], [refs], context)[0]

    bleu4 = Bleu(4)
    assert stats(bleu4, "A dog barks loudly.", ["a dog barks loudly"]) == [4, 4, 4, 3, 2, 1, 4, 3, 2, 1]
    assert score(bleu4, "A dog barks loudly.", ["a dog barks loudly"]) == pytest.approx(1.0, abs=1e-9)
    # one-word caption: no bigrams, so (pycocoevalcap's smoothing) the bigram precision is tiny/small = 1e-6
    assert stats(Bleu(2), "dog", ["a dog barks"]) == [1.0, 3.0, 1.0, 0.0, 1.0, 0.0]
    assert score(Bleu(2), "dog", ["a dog barks"]) == pytest.approx(math.sqrt(1e-6) * math.exp(1 - 3), rel=1e-6)
    # every unigram right: the brevity penalty only
    assert score(Bleu(1), "dog", ["a dog barks"]) == pytest.approx(math.exp(1 - 3), rel=1e-6)
    # empty caption scores 0
    assert score(Bleu(1), "", ["a dog"]) == 0.0
    # clipping: "the the the" against "the cat" has one clipped unigram match of three
    assert stats(Bleu(1), "the the the", ["the cat"]) == [3.0, 2.0, 3.0, 1.0]
    # closest reference length, ties resolved to the shorter one
    assert stats(Bleu(1), "a b c", ["a b", "a b c d"])[1] == 2.0
    assert stats(Bleu(1), "a b c", ["a", "a b c d"])[1] == 4.0
    assert Bleu(1).stat_names == ("hyp_len", "ref_len", "guess_1", "match_1")
    # the corpus value of a resample is the formula on the weighted sums of the statistics
    preds, refs = ["a b c", "a dog"], [["a b", "a b c d"], ["a dog barks"]]
    values = bleu4.corpus_scores(preds, refs, context, np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 3.0]]))
    assert values[0] == pytest.approx(float(bleu4.corpus(2 * bleu4.stats(preds, refs, context)[0])), rel=1e-12)
    assert np.isnan(values[1])
    totals = np.array([1.0, 3.0]) @ bleu4.stats(preds, refs, context)
    assert values[2] == pytest.approx(float(bleu4.corpus(totals)), rel=1e-12)
