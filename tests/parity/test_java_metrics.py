"""The Java-backed captioning metrics: PTB tokenisation, METEOR, SPICE/SPIDEr, against pycocoevalcap itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_audiollm.metrics import java
from pytest_audiollm.metrics.bleu import Bleu
from pytest_audiollm.metrics.cider import CiderD
from pytest_audiollm.metrics.meteor import (
    Meteor,
    batch_stats,
    counted_stats,
    meteor_process,
    meteor_scores,
    score_line,
)
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.rouge import RougeL
from pytest_audiollm.metrics.spice import Spice, Spider, corenlp_jars, spice_unavailable_reason, weighted_mean
from pytest_audiollm.metrics.tokenize import ptb_server, tokenize_captions, tokenize_corpus, tokenizer_unavailable

JAVA_REASON = java.java_unavailable_reason("meteor") or java.java_unavailable_reason("ptb")
needs_java = pytest.mark.skipif(JAVA_REASON is not None, reason=JAVA_REASON or "")
BASIC = ScoringContext(task="captioning", caption_tokenizer="basic")
PTB = ScoringContext(task="captioning", caption_tokenizer="ptb")

VOCAB = [
    *("a", "an", "the", "dog", "dogs", "barking", "barks", "bark", "cat", "cats", "sitting", "sat", "car", "cars"),
    *("engine", "engines", "running", "runs", "man", "woman", "people", "talking", "speaks", "speaking", "loudly"),
    *("loud", "quietly", "in", "on", "of", "and", "is", "are", "water", "flowing", "flows", "bird", "birds"),
    *("chirping", "sings", "singing"),
]
words_st = st.lists(st.sampled_from(VOCAB), max_size=12).map(" ".join)
item_st = st.tuples(words_st, st.lists(words_st, min_size=1, max_size=5))
# Raw captions: letters, digits, punctuation, quotes, brackets, accents, '\n' (replaced by a space, as
# pycocoevalcap does). Other line separators ('\r', U+2028, ...) are excluded: pycocoevalcap's one-file batch
# then returns more lines than captions and shifts every later caption; we replace them with spaces.
raw_st = st.lists(
    st.sampled_from([*"abcXYZ é0123 .,;:!?'\"()[]{}-/&$%@#*\n", " dog", " don't", " U.S.", "...", " The"]),
    max_size=25,
).map("".join)


@pytest.fixture(scope="module", autouse=True)
def _close_jvms() -> Iterator[None]:
    yield
    java.close_all()


# ---------------------------------------------------------------------------------------------- java.py


def test_missing_java_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = java.java_unavailable_reason("meteor")
    assert reason is not None
    assert "METEOR needs a Java runtime (java was not found on PATH)" in reason
    assert "apt-get install default-jre-headless" in reason and "JAVA_HOME" in reason
    assert tokenizer_unavailable("ptb") is not None and tokenizer_unavailable("basic") is None
    assert Meteor().unavailable(BASIC) is not None


def test_java_home_without_java_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    reason = java.java_unavailable_reason("ptb")
    assert reason is not None and f"JAVA_HOME={tmp_path / 'jdk'} has no bin/java" in reason


def test_unknown_tokenizer() -> None:
    assert "unknown caption tokenizer 'nltk'" in (tokenizer_unavailable("nltk") or "")
    with pytest.raises(ValueError, match="unknown caption tokenizer"):
        tokenize_captions(["a"], "nltk")


@needs_java
def test_java_runtime_and_jars_found() -> None:
    runtime = java.java_runtime()
    assert runtime is not None and runtime.major >= 8
    assert java.pycocoevalcap_file("meteor/meteor-1.5.jar") is not None
    assert java.java_unavailable_reason("meteor") is None


# ---------------------------------------------------------------------------------------------- tokenize.py


def test_basic_tokenizer() -> None:
    assert tokenize_captions(["A Dog, barking!", ""], "basic") == ["a dog barking", ""]


@needs_java
@settings(max_examples=4, deadline=None)
@given(st.lists(raw_st, min_size=1, max_size=60))
def test_ptb_equals_pycocoevalcap(captions: list[str]) -> None:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    expected = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    ours = tokenize_captions(captions, "ptb")
    assert ours == [expected[i][0] for i in range(len(captions))]


@needs_java
def test_ptb_known_cases_and_one_jvm() -> None:
    got = tokenize_captions(["Hello, World. Don't go!", "A dog (brown) barks...", "", "two\nlines"], "ptb")
    assert got == ["hello world do n't go", "a dog -lrb- brown -rrb- barks", "", "two lines"]
    server = ptb_server()
    starts = server.starts
    assert tokenize_captions([f"new caption {i}." for i in range(50)], "ptb")[7] == "new caption 7"
    assert server.starts == starts  # no JVM start per call


@needs_java
def test_ptb_server_restarts_after_dying() -> None:
    tokenize_captions(["warm up the server"], "ptb")
    server = ptb_server()
    starts = server.starts
    proc = server._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    assert tokenize_captions(["after the crash, again"], "ptb") == ["after the crash again"]
    assert server.starts == starts + 1


# ---------------------------------------------------------------------------------------------- meteor.py


@pytest.fixture(scope="module")
def coco_meteor() -> Iterator[object]:
    if JAVA_REASON is not None:
        pytest.skip(JAVA_REASON)
    from pycocoevalcap.meteor.meteor import Meteor as CocoMeteor

    scorer = CocoMeteor()
    yield scorer
    del scorer


@needs_java
@settings(max_examples=25, deadline=None)
@given(st.lists(item_st, min_size=1, max_size=15))
def test_meteor_equals_pycocoevalcap(coco_meteor: object, items: list[tuple[str, list[str]]]) -> None:
    metric = Meteor()
    gts = {i: refs for i, (_, refs) in enumerate(items)}
    res = {i: [hyp] for i, (hyp, _) in enumerate(items)}
    corpus, per_item = coco_meteor.compute_score(gts, res)  # type: ignore[attr-defined]
    stats = np.array(batch_stats([h for h, _ in items], [r for _, r in items]))
    assert float(metric.corpus(stats.sum(axis=0))) == pytest.approx(corpus, abs=1e-12)
    for row, expected in zip(stats, per_item, strict=True):
        assert float(metric.corpus(row)) == pytest.approx(expected, abs=1e-12)


# Realistic captions: capitalised sentences with final periods (a caption ending "a." before a capitalised one
# is where PTB tokens depend on the neighbour), commas, quotes, brackets, unicode, one-word and empty ones.
SENTENCE_WORDS = [*VOCAB, "U.S.", "don't", "it's", "café", "naïve", "日本", "Mr.", "a.", "e.g.", '"loud"', "(quiet)"]
sentence_st = st.builds(
    lambda first, rest, sep, end: (first.capitalize() if first else first) + "".join(sep + w for w in rest) + end,
    st.sampled_from(SENTENCE_WORDS),
    st.lists(st.sampled_from(SENTENCE_WORDS), max_size=10),
    st.sampled_from([" ", " ", ", ", "; ", " - "]),
    st.sampled_from(["", ".", ".", "!", "?", " .", "...", '."', "a.", " a."]),
)
caption_st = st.one_of(sentence_st, sentence_st, st.just(""), st.sampled_from(SENTENCE_WORDS), raw_st)
pipeline_st = st.lists(st.tuples(caption_st, st.lists(caption_st, min_size=1, max_size=5)), min_size=1, max_size=12)
NEIGHBOURS = [
    ("A dog barks at a.", ["The dog saw a.", "A cat sat on a."]),
    ("The car passes by a.", ["Water flows in a.", "birds sing near a."]),
    ("", ["One.", ""]),
    ("Dog", ["dog", 'A "loud" dog (brown) barks; U.S. café 日本...']),
]


def coco_pipeline(items: list[tuple[str, list[str]]], coco_meteor: object) -> dict[str, tuple[float, list[float]]]:
    """pycocoevalcap's full pipeline, as its users run it: PTBTokenizer on gts and on res, then the scorers."""
    from pycocoevalcap.bleu.bleu import Bleu as CocoBleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = PTBTokenizer().tokenize({i: [{"caption": r} for r in refs] for i, (_, refs) in enumerate(items)})
    res = PTBTokenizer().tokenize({i: [{"caption": hyp}] for i, (hyp, _) in enumerate(items)})
    out: dict[str, tuple[float, list[float]]] = {}
    bleu, bleu_items = CocoBleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        out[f"bleu_{k + 1}"] = (float(bleu[k]), [float(x) for x in bleu_items[k]])
    rouge, rouge_items = Rouge().compute_score(gts, res)
    out["rouge_l"] = (float(rouge), [float(x) for x in rouge_items])
    try:
        cider, cider_items = Cider().compute_score(gts, res)
    except ValueError:  # no reference has any word: max() of no document frequencies; every score is 0
        cider, cider_items = 0.0, [0.0] * len(items)
    out["cider_d"] = (float(cider), [float(x) for x in cider_items])
    meteor, meteor_items = coco_meteor.compute_score(gts, res)  # type: ignore[attr-defined]
    out["meteor"] = (float(meteor), [float(x) for x in meteor_items])
    return out


@needs_java
@settings(max_examples=30, deadline=None)
@given(pipeline_st)
@example(NEIGHBOURS)
def test_full_pipeline_equals_pycocoevalcap(coco_meteor: object, items: list[tuple[str, list[str]]]) -> None:
    """BLEU-1..4, ROUGE-L, CIDEr-D and METEOR, corpus and per item, to 1e-9, tokenisation included."""
    expected = coco_pipeline(items, coco_meteor)
    preds, refs = [hyp for hyp, _ in items], [r for _, r in items]
    ones = np.ones((1, len(items)))
    for metric in (*(Bleu(k) for k in range(1, 5)), RougeL(), CiderD(), Meteor()):
        value, per_item = expected[metric.name]
        assert float(metric.corpus_scores(preds, refs, PTB, ones)[0]) == pytest.approx(value, rel=1e-9, abs=1e-9)
        assert metric.sample_scores(preds, refs, PTB) == pytest.approx(per_item, rel=1e-9, abs=1e-9), metric.name


@needs_java
def test_ptb_tokens_depend_on_the_next_caption_as_in_pycocoevalcap() -> None:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    preds = ["It sat on a.", "The end", "It sat on a.", "the end", "It sat on a."]
    assert tokenize_captions(preds, "ptb") == ["it sat on a", "the end", "it sat on a.", "the end", "it sat on a."]
    expected = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(preds)})
    assert tokenize_captions(preds, "ptb") == [expected[i][0] for i in range(len(preds))]
    # references are one document in item order, predictions another
    tok_preds, tok_refs = tokenize_corpus(["Saw a.", "Saw a."], [["x a.", "The y"], ["z a.", "w"]], "ptb")
    assert tok_preds == ("saw a.", "saw a.")
    assert tok_refs == (("x a", "the y"), ("z a.", "w"))
    # cached per corpus: the same objects for the same corpus
    assert tokenize_corpus(["Saw a.", "Saw a."], [["x a.", "The y"], ["z a.", "w"]], "ptb")[1] is tok_refs
    # line separators other than '\n' become spaces (pycocoevalcap would shift the later captions)
    assert tokenize_captions(["a\rb", "c\u2028d", "E"], "ptb") == ["a b", "c d", "e"]


def test_basic_tokenizer_needs_no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    preds, refs = ["A dog barks.", "Rain"], [["a dog barks", "dogs bark"], ["rain falls"]]
    ones = np.ones((1, 2))
    for metric in (Bleu(4), RougeL(), CiderD()):
        assert metric.unavailable(BASIC) is None and metric.unavailable(PTB) is not None
        assert np.isfinite(metric.corpus_scores(preds, refs, BASIC, ones)).all()
        assert len(metric.sample_scores(preds, refs, BASIC)) == 2
    assert tokenize_corpus(preds, refs, "basic") == (
        ("a dog barks", "rain"),
        (("a dog barks", "dogs bark"), ("rain falls",)),
    )


@needs_java
def test_meteor_corpus_is_the_jars_eval_aggregate() -> None:
    """Our corpus formula on summed stats equals the jar's EVAL aggregate, incl. perfect-match segments."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 12))
        hyps = [" ".join(rng.choice(VOCAB, size=int(rng.integers(0, 8)))) for _ in range(n)]
        refs = [[" ".join(rng.choice(VOCAB, size=int(rng.integers(1, 8)))) for _ in range(2)] for _ in range(n)]
        hyps = [r[0] if rng.random() < 0.3 else h for h, r in zip(hyps, refs, strict=True)]
        raw = [[float(x) for x in a.split()] for a in meteor_process().request(list(map(score_line, hyps, refs)), n)]
        line = "EVAL ||| " + " ||| ".join(" ".join(repr(x) for x in r) for r in raw)
        jar = [float(x) for x in meteor_process().request([line], n + 1)]
        stats = np.array([counted_stats(r) for r in raw])
        assert meteor_scores(stats) == pytest.approx(jar[:-1], abs=1e-12)
        assert float(meteor_scores(stats.sum(axis=0))) == pytest.approx(jar[-1], abs=1e-12)


def test_meteor_formula_edge_cases() -> None:
    empty = np.zeros(23)
    assert float(meteor_scores(empty)) == 0.0  # 0/0 -> NaN -> 0, as the jar
    batch = meteor_scores(np.zeros((3, 2, 23)))
    assert batch.shape == (3, 2)
    assert Meteor().stat_names and len(Meteor().stat_names) == 23


# ---------------------------------------------------------------------------------------------- spice.py


def test_spice_without_corenlp_explains_where_to_put_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUDIOLLM_SPICE_JARS", str(tmp_path))
    if corenlp_jars() is not None:
        pytest.skip("the CoreNLP 3.6.0 jars are installed in pycocoevalcap's spice/lib")
    reason = spice_unavailable_reason()
    if JAVA_REASON is not None:
        assert reason is not None and "SPICE needs a Java runtime" in reason
        return
    assert reason is not None
    assert "stanford-corenlp-full-2015-12-09.zip" in reason and "http://nlp.stanford.edu/software/" in reason
    assert "stanford-corenlp-3.6.0.jar" in reason and "stanford-corenlp-3.6.0-models.jar" in reason
    assert "AUDIOLLM_SPICE_JARS" in reason and str(tmp_path) in reason
    assert Spice().unavailable(BASIC) == reason
    assert Spider().unavailable(BASIC) == reason
    with pytest.raises(RuntimeError, match=r"CoreNLP 3\.6\.0"):
        Spice().sample_scores(["a dog"], [["a dog barks"]], BASIC)


def test_weighted_mean_of_items() -> None:
    scores = np.array([0.1, 0.5, np.nan])
    weights = np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    out = weighted_mean(scores, weights)
    assert out[0] == pytest.approx(0.3) and out[1] == pytest.approx(0.1)
    assert np.isnan(out[2]) and np.isnan(out[3])


@pytest.mark.skipif(spice_unavailable_reason() is not None, reason=spice_unavailable_reason() or "SPICE is available")
def test_spice_and_spider_equal_pycocoevalcap_with_user_jars() -> None:  # pragma: no cover - needs CoreNLP
    """Runs only where the CoreNLP 3.6.0 jars are installed (not in this project's CI)."""
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.spice.spice import Spice as CocoSpice

    items = [
        ("a dog barks at a cat", ["a dog is barking", "the dog barks at the cat"]),
        ("water flows in a stream", ["water is flowing", "a stream of water runs"]),
        ("a man speaks loudly", ["a man is talking", "someone speaks loudly"]),
    ]
    preds, refs = [p for p, _ in items], [r for _, r in items]
    gts = dict(enumerate(refs))
    res = {i: [p] for i, p in enumerate(preds)}
    jars_dir = os.environ.get("AUDIOLLM_SPICE_JARS")
    if (
        jars_dir
        and corenlp_jars() is not None
        and not str(corenlp_jars()[0]).startswith(  # type: ignore[index]
            str(java.pycocoevalcap_dir())
        )
    ):
        pytest.skip("pycocoevalcap's own Spice needs the jars in its spice/lib (it would download them)")
    expected, per_item = CocoSpice().compute_score(gts, res)
    spice = Spice()
    ones = np.ones((1, len(items)))
    assert float(spice.corpus_scores(preds, refs, BASIC, ones)[0]) == pytest.approx(expected, abs=1e-9)
    assert spice.sample_scores(preds, refs, BASIC) == pytest.approx([s["All"]["f"] for s in per_item], abs=1e-9)
    cider, _ = Cider().compute_score(gts, res)
    spider = Spider(spice)
    assert float(spider.corpus_scores(preds, refs, BASIC, ones)[0]) == pytest.approx((cider + expected) / 2)
