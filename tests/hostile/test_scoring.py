"""Scoring corrections found by differential checks against jiwer, aac-metrics, audioldm_eval, kadtk and
torchmetrics: each convention is now either the reference's or stated where the metric is defined, and tested."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from generation_helpers import RATE, bench, gates_of, rows_of, run, tone
from hypothesis import given, settings
from hypothesis import strategies as st
from perf.asr_edit_distance import quadratic_edit_distance

from pytest_audiollm.features.frontend import PRESETS, Clip, FileFeatures
from pytest_audiollm.metrics.asr import (
    CharacterErrorRate,
    MacroCharacterErrorRate,
    MacroWordErrorRate,
    WordErrorRate,
    edit_distance,
)
from pytest_audiollm.metrics.generation.catalog import Psnr, Ssim
from pytest_audiollm.metrics.generation.protocol import NotScorable, ScoredFile
from pytest_audiollm.metrics.normalize import normalize
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.stats import aggregate

# ---------------------------------------------------------------------------------------------------------------
# SSIM of a generated file identical to its reference


def _pair(preset: str, gen_wave: np.ndarray, ref_wave: np.ndarray) -> ScoredFile:
    ref = Clip("a", "ref.wav", "0", RATE, 1, ref_wave, PRESETS[preset])
    gen = Clip("a", "gen.wav", "1", RATE, 1, gen_wave, PRESETS[preset])
    return ScoredFile(clip=gen, features=FileFeatures("a", "gen.wav", "1", 1.0), rate=RATE, reference=ref)


def test_an_identical_pair_is_left_out_of_ssim_in_the_audioldm_eval_preset_and_scores_one_in_clean() -> None:
    wave = tone(440)
    with pytest.raises(NotScorable, match="identical mel spectrograms"):
        Ssim().file_score(_pair("audioldm_eval-0.0.3", wave, wave))
    with pytest.raises(NotScorable, match="identical mel spectrograms"):
        Psnr().file_score(_pair("audioldm_eval-0.0.3", wave, wave))
    assert Ssim().file_score(_pair("clean", wave, wave)) == 1.0
    with pytest.raises(NotScorable, match="identical mel spectrograms"):
        Psnr().file_score(_pair("clean", wave, wave))
    other = tone(440, seed=5)
    assert Ssim().file_score(_pair("audioldm_eval-0.0.3", other, wave)) < 1.0


def _identical_folders(root: Path, n: int, identical: int) -> None:
    gen, ref = root / "generated", root / "reference"
    gen.mkdir()
    ref.mkdir()
    for i in range(n):
        sf.write(ref / f"clip{i}.wav", tone(220 * (1 + i), seed=i), RATE)
        if i < identical:
            shutil.copy(ref / f"clip{i}.wav", gen / f"clip{i}.wav")
        else:
            sf.write(gen / f"clip{i}.wav", tone(220 * (1 + i) * 1.05, seed=100 + i), RATE)


@pytest.mark.parametrize("preset", ["audioldm_eval-0.0.3", "clean"])
def test_three_pairs_one_identical(pytester: pytest.Pytester, preset: str) -> None:
    _identical_folders(pytester.path, 3, identical=1)
    bench(pytester.path, ["psnr", "ssim"], generation={"preset": preset, "mode": "paired"})
    result, doc = run(pytester, {})
    assert result.ret == 0, result.stdout.str()
    gates = gates_of(doc)
    assert gates["psnr"]["n"] == 2  # both presets: infinite PSNR is left out
    assert gates["ssim"]["n"] == (2 if preset == "audioldm_eval-0.0.3" else 3)
    ssim_of = {row["id"]: row["scores"].get("ssim") for row in rows_of(doc)}
    assert ssim_of["clip0.wav"] == (None if preset == "audioldm_eval-0.0.3" else 1.0)


@pytest.mark.parametrize("preset", ["audioldm_eval-0.0.3", "clean"])
def test_all_pairs_identical_is_not_applicable_not_nan(pytester: pytest.Pytester, preset: str) -> None:
    _identical_folders(pytester.path, 3, identical=3)
    bench(pytester.path, ["psnr", "ssim"], generation={"preset": preset, "mode": "paired"},
          thresholds={"psnr": ">= 10", "ssim": ">= 0.5"})  # fmt: skip
    result, doc = run(pytester, {})
    gates = gates_of(doc)
    out = result.stdout.str()
    assert re.search(r"\bnan\b", out, re.IGNORECASE) is None
    assert result.ret == 0 and "SKIP" in out  # a gate that cannot be computed is skipped with the reason
    psnr = gates["psnr"]
    assert psnr["value"] is None and "identical mel spectrograms" in psnr["note"]
    if preset == "audioldm_eval-0.0.3":
        ssim = gates["ssim"]
        assert ssim["value"] is None and "identical mel spectrograms" in ssim["note"]
    else:
        assert gates["ssim"]["value"] == 1.0 and gates["ssim"]["n"] == 3


# ---------------------------------------------------------------------------------------------------------------
# WER/CER edit distance: RapidFuzz, values unchanged (the oracle is the pure-Python loop it replaced, kept in the perf
# script that times the two)


TOKEN_LISTS = st.lists(st.sampled_from(["a", "b", "c", "ab", "", " ", "é", "e\u0301", "1"]), max_size=25)


@settings(max_examples=1500, deadline=None)
@given(TOKEN_LISTS, TOKEN_LISTS)
def test_edit_distance_equals_the_old_algorithm_on_token_lists(reference: list[str], hypothesis: list[str]) -> None:
    assert edit_distance(reference, hypothesis) == quadratic_edit_distance(reference, hypothesis)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_edit_distance_equals_the_old_algorithm_on_characters(reference: str, hypothesis: str) -> None:
    assert edit_distance(list(reference), list(hypothesis)) == quadratic_edit_distance(reference, hypothesis)


def test_edit_distance_of_a_3500_character_utterance_has_its_known_answer() -> None:
    rng = np.random.default_rng(0)
    reference = list("".join(rng.choice(list("abcdefgh "), size=3500)))
    hypothesis = list(reference)
    for i in rng.choice(len(hypothesis), size=300, replace=False):
        hypothesis[i] = "z"  # a character the reference lacks: each costs exactly one edit
    assert edit_distance(reference, [*hypothesis, *"q" * 20]) == 320
    assert edit_distance([*"q" * 20, *hypothesis], reference) == 320


# ---------------------------------------------------------------------------------------------------------------
# WER/CER: jiwer 4's rules for empty references and for what a word is


ASR_CASES = [
    # (normaliser, [(reference, hypothesis), ...], wer, wer_macro, cer, cer_macro); jiwer 4.0 gives the same
    ("none", [("", "a b c")], 3.0, 3.0, 5.0, 5.0),  # empty reference: every unit is an insertion, not capped at 1
    ("none", [("", "")], 0.0, 0.0, 0.0, 0.0),
    ("none", [("", "x y z"), ("a b", "a b")], 1.5, 1.5, 5 / 3, 2.5),  # 3 words over 2 reference words
    ("none", [("", "x y z"), ("", "w")], 4.0, 2.0, 6.0, 3.0),  # no reference unit anywhere: the insertions
    ("none", [("a b", "a\tb")], 1.0, 1.0, 1 / 3, 1 / 3),  # one tab is no word boundary: 'a\tb' is one word
    ("none", [("a\t\tb", "a b")], 0.0, 0.0, 0.5, 0.5),  # a run of 2+ whitespace characters is one
    ("none", [("a\nb", "a b")], 2.0, 2.0, 1 / 3, 1 / 3),
    ("none", [("a\u00a0b", "a b")], 2.0, 2.0, 1 / 3, 1 / 3),
    ("none", [("a  b", "a b")], 0.0, 0.0, 0.25, 0.25),  # CER keeps the double space (jiwer's cer does not collapse)
    ("none", [(" a b \n", "a b")], 0.0, 0.0, 0.0, 0.0),
    ("basic", [("...", "hello there")], 2.0, 2.0, 11.0, 11.0),  # '...' normalises to an empty reference
    ("basic", [("Hello,\tWorld", "hello world")], 0.0, 0.0, 0.0, 0.0),  # basic turns every whitespace into ' '
]


def _rates(normalizer: str, pairs: list[tuple[str, str]]) -> list[float]:
    context = ScoringContext(task="asr", text_normalizer=normalizer)
    out = []
    for metric in (WordErrorRate(), MacroWordErrorRate(), CharacterErrorRate(), MacroCharacterErrorRate()):
        rows = [metric.sample_stats(hyp, [ref], context) for ref, hyp in pairs]
        out.append(aggregate(metric, rows, resamples=0).value)
    return out


@pytest.mark.parametrize(("normalizer", "pairs", "wer", "wer_macro", "cer", "cer_macro"), ASR_CASES)
def test_error_rates_follow_jiwer_on_empty_references_and_whitespace(
    normalizer: str, pairs: list[tuple[str, str]], wer: float, wer_macro: float, cer: float, cer_macro: float
) -> None:
    assert _rates(normalizer, pairs) == pytest.approx([wer, wer_macro, cer, cer_macro], abs=1e-12)
    jiwer = pytest.importorskip("jiwer")
    refs = [normalize(ref, normalizer) for ref, _ in pairs]
    hyps = [normalize(hyp, normalizer) for _, hyp in pairs]
    expected = []
    for rate in (jiwer.wer, jiwer.cer):
        expected += [rate(refs, hyps), sum(rate(r, h) for r, h in zip(refs, hyps, strict=True)) / len(pairs)]
    assert _rates(normalizer, pairs) == pytest.approx([expected[0], expected[1], expected[2], expected[3]], abs=1e-12)


def test_per_sample_scores_and_missing_references_follow_the_same_rule() -> None:
    context = ScoringContext(task="asr", text_normalizer="none")
    for metric in (WordErrorRate(), MacroWordErrorRate()):
        assert metric.sample_score(metric.sample_stats("x y z", [""], context)) == 3.0
        assert metric.sample_score(metric.sample_stats("x y z", [], context)) == 3.0  # no reference: empty
        assert metric.sample_score(metric.sample_stats("", [], context)) == 0.0


def test_error_rate_versions_say_the_rule_changed() -> None:
    assert [m.version for m in (WordErrorRate(), CharacterErrorRate())] == ["3", "3"]
    assert [m.version for m in (MacroWordErrorRate(), MacroCharacterErrorRate())] == ["2", "2"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.text(" \t\n\u00a0ab.", max_size=12), st.text(" \t\n\u00a0ab.", max_size=12)),
                min_size=1, max_size=4))  # fmt: skip
def test_error_rates_equal_jiwer_on_whitespace_heavy_text(pairs: list[tuple[str, str]]) -> None:
    jiwer = pytest.importorskip("jiwer")
    for normalizer in ("none", "basic"):
        refs = [normalize(ref, normalizer) for ref, _ in pairs]
        hyps = [normalize(hyp, normalizer) for _, hyp in pairs]
        expected = []
        for rate in (jiwer.wer, jiwer.cer):
            expected += [rate(refs, hyps), sum(rate(r, h) for r, h in zip(refs, hyps, strict=True)) / len(pairs)]
        assert _rates(normalizer, pairs) == pytest.approx(expected, abs=1e-12)
