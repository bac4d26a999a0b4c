"""Text normalisers and the ASR error rates against the implementations they claim to equal.

``whisper_english`` is compared with ``whisper_normalizer.english.EnglishTextNormalizer`` and the error rates with
``jiwer`` (micro: ``jiwer.wer``/``jiwer.cer`` on lists; macro: the mean of per-utterance jiwer values) on the same
normalised text. Each differential test skips when its package is not installed. Corpus values go through
``stats.aggregate`` (resamples=0), the path the gates use.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_audiollm.errors import MissingDependency
from pytest_audiollm.metrics import normalize as normalize_module
from pytest_audiollm.metrics.asr import (
    CharacterErrorRate,
    MacroCharacterErrorRate,
    MacroWordErrorRate,
    WordErrorRate,
)
from pytest_audiollm.metrics.normalize import (
    NORMALIZERS,
    basic,
    normalize,
    normalizer_unavailable,
    normalizer_version,
    words,
)
from pytest_audiollm.metrics.protocol import Metric, ScoringContext
from pytest_audiollm.metrics.stats import aggregate

ALL_METRICS = [WordErrorRate(), CharacterErrorRate(), MacroWordErrorRate(), MacroCharacterErrorRate()]
MANY = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _split(words: str) -> list[str]:
    return words.split()


# words that exercise Whisper's English rules: spelled and written numbers, currencies, percentages, ordinals,
# contractions, titles, fillers, bracketed asides, British spellings, diacritics and other unicode
VOCABULARY = [
    *_split("zero oh one two three five seven nine ten eleven fifteen twenty forty ninety hundred thousand million"),
    *_split("billion first second third fifth twelfth twentieth hundredth thousands sixes ones point and a half"),
    *_split("double triple minus plus negative positive dollar dollars pound pounds euro euros cent cents per percent"),
    *["$", "£", "€", "¢", "%", "$20", "£3.50", "€1,000", "1,000,000", "3.14", "0.5", "42", "7", "1960s", "21st"],
    *["2nd", "3rd", "10%", "$0.07", "1.2.3.4", "1", "1s", "00"],
    *["won't", "can't", "let's", "ain't", "y'all", "wanna", "gonna", "gotta", "kinda", "dunno", "ma'am", "i'ma"],
    *["it's", "he'd", "they're", "we'll", "I've", "I'm", "she's been", "he'd gone", "isn't", "'cause", "cause"],
    *["Mr.", "Mrs", "Dr.", "St.", "Prof", "Jr.", "Lt", "Gen.", "um", "uh", "hmm", "mhm", "mm"],
    *["[noise]", "(laughs)", "<unk>", "(", ")", "[", "]", "<", ">"],
    *["colour", "favourite", "organise", "theatre", "analyse", "travelled", "grey", "centre", "licence", "aeroplane"],
    *["café", "naïve", "Ærø", "straße", "ﬁne", "İstanbul", "Œuvre", "þorn", "日本語", "😀", "—", "…", "ǅ"],
    *["the", "cat", "sat", "on", "mat", "hello", "world", "I", "it", "is", "was", "o'clock"],
    *[",", ".", "!", "?", ";", ":", "-", "'", '"', "&", "/", "_"],
]
SEPARATORS = [" ", " ", " ", "  ", "", "\t", ", ", ". ", "\n", " '"]


TOKENS = st.one_of(st.sampled_from(VOCABULARY), st.integers(0, 10**7).map(str))
CASINGS = [str, str, str.upper, str.title]
PIECES = st.lists(st.tuples(TOKENS, st.sampled_from(SEPARATORS)), max_size=8).map(
    lambda pieces: "".join(token + separator for token, separator in pieces)
)
# mostly vocabulary words with varied separators and casing; sometimes arbitrary unicode text
UTTERANCES = st.one_of(
    st.tuples(PIECES, st.sampled_from(CASINGS)).map(lambda text_case: text_case[1](text_case[0])),
    st.text(st.characters(codec="utf-8"), max_size=30),
)


def utterances() -> st.SearchStrategy[str]:
    return UTTERANCES


def _reference_whisper() -> Callable[[str], str]:
    english = pytest.importorskip("whisper_normalizer.english")
    return _whisper_instance(english)


@functools.cache
def _whisper_instance(english: ModuleType) -> Callable[[str], str]:
    normalizer: Callable[[str], str] = english.EnglishTextNormalizer()  # a fresh instance, not ours
    return normalizer


def _outcome(function: Callable[[str], str], text: str) -> tuple[str, str]:
    try:
        return ("value", function(text))
    except Exception as exc:
        return ("error", type(exc).__name__)


# ---------------------------------------------------------------------------------------------------------------
# normalisers


@MANY
@given(utterances())
def test_whisper_english_equals_whisper_normalizer(text: str) -> None:
    expected = _outcome(_reference_whisper(), text)
    assert _outcome(lambda t: normalize(t, "whisper_english"), text) == expected
    if expected[0] == "value":
        assert words(text, "whisper_english") == expected[1].split()  # single spaces only: both splits agree


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("$20 million", "$20000000"),
        ("twenty five dollars and seven cents", "$25.07"),
        ("ten percent", "10%"),
        ("one oh one", "101"),
        ("the 1960s", "the 1960s"),
        ("the twenty first", "the 21st"),
        ("I won't go, it's Mr. Smith's colour", "i will not go it is mister smith is color"),
        ("um [noise] hello (laughs) there", "hello there"),
        ("Café naïve straße", "cafe naive strasse"),
        ("1,000,000 people", "1000000 people"),
        ("three point five", "3.5"),
    ],
)
def test_whisper_english_known_answers(text: str, expected: str) -> None:
    pytest.importorskip("whisper_normalizer.english")
    assert normalize(text, "whisper_english").strip() == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("none", "  Hello,  World!\n", "Hello,  World!"),
        ("none", "", ""),
        ("basic", "  Hello,  World!\n", "hello world"),
        ("basic", "It's \uff26\uff35\uff2c\uff2c-width_text", "it's full width text"),
        ("basic", "...", ""),
    ],
)
def test_none_and_basic_known_answers(name: str, text: str, expected: str) -> None:
    assert normalize(text, name) == expected


@SOME
@given(utterances())
def test_none_is_identity_but_strip_and_basic_is_stable(text: str) -> None:
    assert normalize(text, "none") == text.strip()
    assert normalize(text) == basic(text)
    assert normalize(basic(text), "basic") == basic(text)  # idempotent
    assert words(text) == (basic(text).split(" ") if basic(text) else [])


def test_normalizer_versions() -> None:
    assert NORMALIZERS == ("none", "basic", "basic-2", "whisper_english")
    assert [normalizer_version(n) for n in NORMALIZERS] == ["none-1", "basic-1", "basic-2", "whisper_english-1"]
    with pytest.raises(ValueError, match="unknown text normaliser 'shouty'"):
        normalizer_version("shouty")
    with pytest.raises(ValueError, match="unknown text normaliser"):
        normalize("x", "shouty")
    assert normalizer_unavailable("shouty") is not None


@pytest.fixture
def without_whisper_normalizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The third-party package made unimportable (None in sys.modules), the normaliser cache emptied around."""
    normalize_module._whisper_english.cache_clear()
    normalize_module._normalize.cache_clear()
    monkeypatch.setitem(sys.modules, "whisper_normalizer", None)
    monkeypatch.setitem(sys.modules, "whisper_normalizer.english", None)
    yield None
    normalize_module._whisper_english.cache_clear()
    normalize_module._normalize.cache_clear()


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.name)
def test_missing_whisper_normalizer_makes_the_metrics_unavailable(
    metric: Metric, without_whisper_normalizer: None
) -> None:
    context = ScoringContext(task="asr", text_normalizer="whisper_english")
    reason = metric.unavailable(context)
    assert reason is not None
    assert "whisper-normalizer" in reason
    assert "pip install whisper-normalizer" in reason
    assert metric.unavailable(ScoringContext(task="asr", text_normalizer="basic")) is None
    assert metric.unavailable(ScoringContext(task="asr", text_normalizer="none")) is None
    with pytest.raises(MissingDependency):
        normalize("hello", "whisper_english")


def test_metrics_are_available_with_whisper_normalizer() -> None:
    pytest.importorskip("whisper_normalizer.english")
    assert WordErrorRate().unavailable(ScoringContext(task="asr", text_normalizer="whisper_english")) is None


# ---------------------------------------------------------------------------------------------------------------
# WER / CER, micro and macro, against jiwer


def _normalizes(text: str, name: str) -> bool:
    try:
        normalize(text, name)
    except MissingDependency:
        raise
    except Exception:
        return False
    return True


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@SOME
@given(pairs=st.lists(st.tuples(utterances(), utterances()), min_size=1, max_size=4))
def test_error_rates_equal_jiwer(normalizer: str, pairs: list[tuple[str, str]]) -> None:
    jiwer = pytest.importorskip("jiwer")
    if normalizer == "whisper_english":
        pytest.importorskip("whisper_normalizer.english")
    assume(all(_normalizes(ref, normalizer) and _normalizes(hyp, normalizer) for ref, hyp in pairs))
    context = ScoringContext(task="asr", text_normalizer=normalizer)
    for jiwer_rate, micro, macro in (
        (jiwer.wer, WordErrorRate(), MacroWordErrorRate()),
        (jiwer.cer, CharacterErrorRate(), MacroCharacterErrorRate()),
    ):
        # jiwer on the normalised text itself: its own word split and its empty-reference rule (jiwer 4.0)
        references = [normalize(ref, normalizer) for ref, _ in pairs]
        hypotheses = [normalize(hyp, normalizer) for _, hyp in pairs]
        expected_micro = jiwer_rate(references, hypotheses)
        per_utterance = [jiwer_rate(r, h) for r, h in zip(references, hypotheses, strict=True)]
        expected_macro = sum(per_utterance) / len(per_utterance)

        micro_rows = [micro.sample_stats(hyp, [ref], context) for ref, hyp in pairs]
        macro_rows = [macro.sample_stats(hyp, [ref], context) for ref, hyp in pairs]
        assert aggregate(micro, micro_rows, resamples=0).value == pytest.approx(expected_micro, abs=1e-12)
        assert aggregate(macro, macro_rows, resamples=0).value == pytest.approx(expected_macro, abs=1e-12)
        for row, macro_row, single in zip(micro_rows, macro_rows, per_utterance, strict=True):
            assert micro.sample_score(row) == pytest.approx(single, abs=1e-12)
            assert macro.sample_score(macro_row) == pytest.approx(single, abs=1e-12)


def test_error_rates_follow_the_context_normalizer() -> None:
    pairs = [("The colour, Mr. Smith!", "the color mister smith"), ("twenty dollars", "$20")]
    # none: every word differs (4 + 2 edits); basic: 'colour' and 'mr' (2), and '20' for 'twenty dollars' (2)
    expected = {"none": 1.0, "basic": (2 + 2) / (4 + 2)}
    for normalizer, value in expected.items():
        context = ScoringContext(task="asr", text_normalizer=normalizer)
        rows = [WordErrorRate().sample_stats(hyp, [ref], context) for ref, hyp in pairs]
        assert aggregate(WordErrorRate(), rows, resamples=0).value == pytest.approx(value)
    if "whisper_normalizer" in sys.modules or _importable("whisper_normalizer.english"):
        context = ScoringContext(task="asr", text_normalizer="whisper_english")
        rows = [WordErrorRate().sample_stats(hyp, [ref], context) for ref, hyp in pairs]
        assert aggregate(WordErrorRate(), rows, resamples=0).value == 0.0


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def test_macro_and_micro_known_answers() -> None:
    context = ScoringContext(task="asr")
    pairs = [("a b c d", "a b c d"), ("x", "y")]  # 0/4 and 1/1
    micro_rows = [WordErrorRate().sample_stats(h, [r], context) for r, h in pairs]
    macro_rows = [MacroWordErrorRate().sample_stats(h, [r], context) for r, h in pairs]
    assert aggregate(WordErrorRate(), micro_rows, resamples=0).value == pytest.approx(1 / 5)
    assert aggregate(MacroWordErrorRate(), macro_rows, resamples=0).value == pytest.approx(1 / 2)
    assert macro_rows == [[0.0, 1.0], [1.0, 1.0]]
    cer_rows = [MacroCharacterErrorRate().sample_stats(h, [r], context) for r, h in [("ab", "a b"), ("abcd", "abcd")]]
    assert aggregate(MacroCharacterErrorRate(), cer_rows, resamples=0).value == pytest.approx(0.25)


@pytest.mark.parametrize("metric", [MacroWordErrorRate(), MacroCharacterErrorRate()], ids=lambda m: m.name)
def test_macro_empty_reference_policy(metric: Metric) -> None:
    context = ScoringContext(task="asr")
    inserted = 2.0 if metric.name == "wer_macro" else 11.0  # 'hello there': 2 words, 11 characters
    empty_empty = metric.sample_stats("", [""], context)
    empty_some = metric.sample_stats("hello there", ["..."], context)  # '...' normalises to nothing
    no_references = metric.sample_stats("", [], context)
    assert empty_empty == [0.0, 1.0]
    assert empty_some == [inserted, 1.0]  # jiwer 4.0: the inserted units, not capped at 1
    assert no_references == [0.0, 1.0]
    assert metric.sample_score(empty_some) == inserted
    assert aggregate(metric, [empty_empty, empty_empty], resamples=0).value == 0.0
    assert aggregate(metric, [empty_empty, empty_some], resamples=0).value == inserted / 2
    # unlike the micro rate, an empty reference is one utterance of the mean, not 'insertions over the total'
    other = metric.sample_stats("ab", ["ab"], context)
    assert aggregate(metric, [empty_some, other], resamples=0).value == inserted / 2
    micro = WordErrorRate() if metric.name == "wer_macro" else CharacterErrorRate()
    micro_rows = [micro.sample_stats("hello there", ["..."], context), micro.sample_stats("ab", ["ab"], context)]
    assert aggregate(micro, micro_rows, resamples=0).value == micro_rows[0][0] / micro_rows[1][1]


def test_macro_bootstrap_is_a_weighted_mean() -> None:
    metric = MacroWordErrorRate()
    context = ScoringContext(task="asr")
    rows = [metric.sample_stats(h, [r], context) for r, h in [("a b", "a c"), ("a", "a"), ("a b c", "")]]
    result = aggregate(metric, rows, resamples=200, seed=3)
    assert result.value == pytest.approx((0.5 + 0 + 1) / 3)
    assert 0.0 <= result.ci95[0] <= result.value <= result.ci95[1] <= 1.0


def test_metric_names_and_versions() -> None:
    metrics = [WordErrorRate(), CharacterErrorRate(), MacroWordErrorRate(), MacroCharacterErrorRate()]
    assert [m.name for m in metrics] == ["wer", "cer", "wer_macro", "cer_macro"]
    assert [m.version for m in metrics] == ["3", "3", "2", "2"]
    assert all(not m.higher_is_better for m in metrics)
