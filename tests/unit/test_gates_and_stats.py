"""Threshold expressions, gate conditions and the seeded bootstrap behind every aggregate."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from pytest_audiollm.conditions import (
    Condition,
    ThresholdOverride,
    ThresholdSyntaxError,
    parse_condition,
    parse_threshold_option,
)
from pytest_audiollm.metrics.asr import WordErrorRate
from pytest_audiollm.metrics.bleu import Bleu
from pytest_audiollm.metrics.classification import Accuracy
from pytest_audiollm.metrics.normalize import words
from pytest_audiollm.metrics.protocol import Metric, ScoringContext
from pytest_audiollm.metrics.stats import DEFAULT_RESAMPLES, aggregate, aggregate_corpus

NAN = float("nan")

# ---------------------------------------------------------------------------------------------------------------
# parse_condition / parse_threshold_option


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">= 0.6", Condition("value", ">=", 0.6)),
        (">=0.6", Condition("value", ">=", 0.6)),
        ("  <= 0.12  ", Condition("value", "<=", 0.12)),
        ("> 3", Condition("value", ">", 3.0)),
        ("< -1e-3", Condition("value", "<", -0.001)),
        (">= +2.5E1", Condition("value", ">=", 25.0)),
        ("value > 3", Condition("value", ">", 3.0)),
        ("ci_high <= 0.12", Condition("ci_high", "<=", 0.12)),
        ("ci_low>=0.5", Condition("ci_low", ">=", 0.5)),
        ("ci_low >= .5", Condition("ci_low", ">=", 0.5)),
    ],
)
def test_parse_condition_valid(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0.6", ">=", "=> 0.6", "== 0.6", "= 0.6", ">= abc", "ci_mid >= 1", "CI_HIGH <= 1", ">= 0.6 or so", "≥ 0.6"],
)
def test_parse_condition_invalid_syntax(text: str) -> None:
    with pytest.raises(ThresholdSyntaxError, match="cannot read threshold") as info:
        parse_condition(text)
    message = str(info.value)
    assert repr(text) in message
    assert ">= 0.60" in message  # an example of the right form
    assert "ci_high" in message


@pytest.mark.parametrize("text", [">= 1e", ">= 1.2.3", ">= --1", ">= .", ">= e"])
def test_parse_condition_invalid_number(text: str) -> None:
    with pytest.raises(ThresholdSyntaxError, match="cannot read the number"):
        parse_condition(text)


def test_threshold_syntax_error_is_a_value_error() -> None:
    assert issubclass(ThresholdSyntaxError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demo-asr:wer<=0.3", ThresholdOverride("demo-asr", "wer", Condition("value", "<=", 0.3))),
        ("demo-asr:wer ci_high<=0.4", ThresholdOverride("demo-asr", "wer", Condition("ci_high", "<=", 0.4))),
        ("*:accuracy>=0.5", ThresholdOverride("*", "accuracy", Condition("value", ">=", 0.5))),
        (
            " esc50.mini : macro_f1 >= 0.25 ",
            ThresholdOverride("esc50.mini", "macro_f1", Condition("value", ">=", 0.25)),
        ),
        ("b:bleu_4 value > 0.1", ThresholdOverride("b", "bleu_4", Condition("value", ">", 0.1))),
    ],
)
def test_parse_threshold_option_valid(text: str, expected: ThresholdOverride) -> None:
    assert parse_threshold_option(text) == expected


@pytest.mark.parametrize("text", ["wer<=0.3", "demo:<=0.3", ":wer<=0.3", "", "demo wer <= 0.3"])
def test_parse_threshold_option_invalid_target(text: str) -> None:
    with pytest.raises(ThresholdSyntaxError, match="BENCHMARK:METRIC") as info:
        parse_threshold_option(text)
    assert "demo-asr:wer<=0.3" in str(info.value)


@pytest.mark.parametrize("text", ["demo:wer", "demo:wer ~= 0.3", "demo:wer <= x"])
def test_parse_threshold_option_invalid_expression(text: str) -> None:
    with pytest.raises(ThresholdSyntaxError, match="cannot read"):
        parse_threshold_option(text)


def test_threshold_override_applies_to() -> None:
    assert parse_threshold_option("*:wer<=1").applies_to("anything")
    specific = parse_threshold_option("demo-asr:wer<=1")
    assert specific.applies_to("demo-asr")
    assert not specific.applies_to("demo-asr2")


# ---------------------------------------------------------------------------------------------------------------
# Condition.holds


@pytest.mark.parametrize(
    ("condition", "value", "ci95", "holds"),
    [
        (">= 0.6", 0.6, (0.5, 0.7), True),
        (">= 0.6", 0.5999, (0.5, 0.7), False),
        ("> 0.6", 0.6, (0.5, 0.7), False),
        ("<= 0.3", 0.3, (0.2, 0.4), True),
        ("< 0.3", 0.3, (0.2, 0.4), False),
        ("value < 0.31", 0.3, (0.2, 0.4), True),
        ("ci_high <= 0.35", 0.3, (0.2, 0.4), False),
        ("ci_high <= 0.4", 0.3, (0.2, 0.4), True),
        ("ci_low >= 0.2", 0.3, (0.2, 0.4), True),
        ("ci_low > 0.2", 0.3, (0.2, 0.4), False),
        # only the named bound is read: NaN elsewhere does not matter
        ("ci_low >= 0.2", NAN, (0.2, NAN), True),
        (">= 0", 1.0, (NAN, NAN), True),
        # NaN observed never holds, whatever the operator
        (">= 0", NAN, (0.0, 1.0), False),
        ("<= 0", NAN, (0.0, 1.0), False),
        ("> -1e300", NAN, (0.0, 1.0), False),
        ("< 1e300", NAN, (0.0, 1.0), False),
        ("ci_high <= 1", 0.5, (0.0, NAN), False),
        ("ci_low >= 0", 0.5, (NAN, 1.0), False),
    ],
)
def test_condition_holds(condition: str, value: float, ci95: tuple[float, float], holds: bool) -> None:
    assert parse_condition(condition).holds(value, ci95) is holds


def test_condition_observed_and_str() -> None:
    condition = parse_condition("ci_high <= 0.12")
    assert condition.observed(0.1, (0.05, 0.15)) == 0.15
    assert str(condition) == "ci_high <= 0.12"
    assert str(parse_condition("value>=0.6")) == ">= 0.6"
    assert str(parse_condition("ci_low > 1e-3")) == "ci_low > 0.001"
    assert parse_condition(str(condition)) == condition


# ---------------------------------------------------------------------------------------------------------------
# aggregate

ASR = ScoringContext(task="asr")


def _accuracy_rows(n: int, p: float, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[1.0 if rng.random() < p else 0.0, 1.0] for _ in range(n)]


def _asr_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    vocab = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]
    pairs = []
    for _ in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 8))]
        hyp = [w if rng.random() < 0.8 else rng.choice(vocab) for w in ref if rng.random() < 0.9]
        hyp += [rng.choice(vocab) for _ in range(rng.randint(0, 1))]
        pairs.append((" ".join(hyp), " ".join(ref)))
    return pairs


def test_aggregate_is_deterministic_for_a_seed() -> None:
    rows = _accuracy_rows(80, 0.7, seed=1)
    first = aggregate(Accuracy(), rows, seed=5, resamples=300)
    second = aggregate(Accuracy(), rows, seed=5, resamples=300)
    assert first == second
    assert first.seed == 5
    assert first.resamples == 300
    assert first.n == 80


def test_aggregate_differs_for_another_seed() -> None:
    rows = _accuracy_rows(80, 0.7, seed=1)
    first = aggregate(Accuracy(), rows, seed=5, resamples=300)
    other = aggregate(Accuracy(), rows, seed=6, resamples=300)
    assert other.value == first.value  # the point estimate does not depend on the seed
    assert other.ci95 != first.ci95


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ci_contains_the_value_for_typical_data(seed: int) -> None:
    rows = _accuracy_rows(200, 0.7, seed=seed)
    result = aggregate(Accuracy(), rows, seed=seed)
    assert result.resamples == DEFAULT_RESAMPLES
    low, high = result.ci95
    assert low <= result.value <= high
    assert 0.0 <= low < high <= 1.0
    assert high - low < 0.25  # about 4 standard errors (sqrt(.21/200) ~ 0.032)

    wer = WordErrorRate()
    wer_rows = [wer.sample_stats(hyp, [ref], ASR) for hyp, ref in _asr_pairs(150, seed)]
    wer_result = aggregate(wer, wer_rows, seed=seed)
    assert wer_result.ci95[0] <= wer_result.value <= wer_result.ci95[1]
    assert wer_result.ci95[0] < wer_result.ci95[1]


def test_aggregate_of_no_rows_is_nan() -> None:
    result = aggregate(Accuracy(), [], seed=3, resamples=100)
    assert result.n == 0
    assert math.isnan(result.value)
    assert math.isnan(result.ci95[0])
    assert math.isnan(result.ci95[1])
    assert (result.resamples, result.seed) == (100, 3)


def test_aggregate_of_one_row_has_a_point_ci() -> None:
    result = aggregate(WordErrorRate(), [[2.0, 4.0]], resamples=100)
    assert result.n == 1
    assert result.value == 0.5
    assert result.ci95 == (0.5, 0.5)


def test_aggregate_without_resamples() -> None:
    rows = _accuracy_rows(50, 0.5, seed=4)
    result = aggregate(Accuracy(), rows, resamples=0)
    assert result.value == pytest.approx(sum(r[0] for r in rows) / 50)
    assert result.ci95 == (result.value, result.value)
    assert result.resamples == 0
    assert aggregate(Accuracy(), rows, resamples=-1).ci95 == (result.value, result.value)


def test_aggregate_of_constant_data_has_a_point_ci() -> None:
    result = aggregate(Accuracy(), [[1.0, 1.0]] * 30, resamples=200)
    assert result.value == 1.0
    assert result.ci95 == (1.0, 1.0)


class _AlwaysNan(Metric):
    name = "nan"
    stat_names = ("x",)

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        return [0.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.full(totals.shape[:-1], np.nan)


def test_aggregate_with_no_finite_resample_has_a_nan_ci() -> None:
    result = aggregate(_AlwaysNan(), [[0.0], [1.0], [2.0]], resamples=50)
    assert math.isnan(result.value)
    assert math.isnan(result.ci95[0])
    assert math.isnan(result.ci95[1])


def _slow_corpus_wer(pairs: Sequence[tuple[str, str]]) -> float:
    """WER of a list of (hypothesis, reference) from scratch: a full-table edit distance per pair."""
    errors = length = 0
    for hyp_text, ref_text in pairs:
        ref, hyp = words(ref_text), words(hyp_text)
        table = [[i + j if i == 0 or j == 0 else 0 for j in range(len(hyp) + 1)] for i in range(len(ref) + 1)]
        for i in range(1, len(ref) + 1):
            for j in range(1, len(hyp) + 1):
                table[i][j] = min(
                    table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
                )
        errors += table[len(ref)][len(hyp)]
        length += len(ref)
    return errors / length if length else float(errors > 0)


@pytest.mark.parametrize(("n", "resamples", "seed"), [(25, 200, 7), (9, 150, 123)])
def test_bootstrap_of_wer_equals_explicit_recomputation(n: int, resamples: int, seed: int) -> None:
    pairs = _asr_pairs(n, seed=seed)
    metric = WordErrorRate()
    rows = [metric.sample_stats(hyp, [ref], ASR) for hyp, ref in pairs]
    result = aggregate(metric, rows, seed=seed, resamples=resamples)

    # the same draws: one multinomial count vector per resample, from a generator seeded the same way
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)
    values = []
    for row in counts:
        resample = [pair for pair, count in zip(pairs, row, strict=True) for _ in range(int(count))]
        values.append(_slow_corpus_wer(resample))
    low, high = np.percentile(np.asarray(values), [2.5, 97.5])
    assert result.value == pytest.approx(_slow_corpus_wer(pairs), abs=1e-12)
    assert result.ci95[0] == pytest.approx(float(low), abs=1e-12)
    assert result.ci95[1] == pytest.approx(float(high), abs=1e-12)


def test_bootstrap_chunking_does_not_change_the_draws() -> None:
    # 4001 rows: aggregate draws its resamples in chunks of 999; one draw of all of them gives the same CI
    n, resamples, seed = 4001, 1000, 11
    rows = np.asarray(_accuracy_rows(n, 0.6, seed=seed))
    result = aggregate(Accuracy(), rows.tolist(), seed=seed, resamples=resamples)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    totals = counts @ rows
    low, high = np.percentile(totals[:, 0] / totals[:, 1], [2.5, 97.5])
    assert result.ci95 == pytest.approx((float(low), float(high)), abs=1e-12)


def test_bootstrap_of_bleu4_is_fast() -> None:
    rng = random.Random(0)
    vocab = ["a", "dog", "barks", "the", "car", "passes", "rain", "falls", "loudly", "in", "street"]
    metric = Bleu(4)
    context = ScoringContext(task="captioning", caption_tokenizer="basic")
    predictions, references = [], []
    for _ in range(1000):
        predictions.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 12))))
        references.append(
            [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 12))) for _ in range(rng.randint(1, 5))]
        )
    metric.stats(predictions, references, context)  # per-corpus statistics, computed once per gate
    start = time.perf_counter()
    result = aggregate_corpus(metric, predictions, references, context, seed=0, resamples=1000)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"1,000 resamples of 1,000 BLEU-4 rows took {elapsed:.2f} s"
    assert result.ci95[0] <= result.value <= result.ci95[1]
