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
from pytest_audiollm.metrics.asr import edit_distance
from pytest_audiollm.metrics.generation.catalog import Psnr, Ssim
from pytest_audiollm.metrics.generation.protocol import NotScorable, ScoredFile

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
