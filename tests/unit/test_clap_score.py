"""ClapScorer (CLAP score of generated audio) against a direct transformers computation on a tiny CLAP."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_audio_models import build_tiny_clap

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.models.clap_score import ClapScorer

pytestmark = pytest.mark.slow

TEXTS = ["a dog barks twice", "rain on a tin roof", "a steady high tone", "an engine idling in the distance"]


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap-score"), seed=3)


@pytest.fixture(scope="module")
def scorer(clap_dir: Path) -> Iterator[ClapScorer]:
    scorer = ClapScorer(clap_dir)
    scorer.load()
    yield scorer
    scorer.unload()


def _waves(rate: int, seconds: tuple[float, ...] = (1.0, 0.5, 1.8, 1.2)) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    waves = []
    for i, length in enumerate(seconds):
        t = np.arange(int(length * rate)) / rate
        wave = 0.3 * np.sin(2 * np.pi * (200 + 350 * i) * t) + 0.05 * (i + 1) * rng.standard_normal(t.size)
        waves.append(wave.astype(np.float32))
    return waves


@pytest.fixture(scope="module")
def direct(clap_dir: Path) -> Callable[[list[str], list[np.ndarray]], np.ndarray]:
    """The CLAP score per pair computed with transformers alone: processor, get_*_features, cosine."""
    import transformers

    processor = transformers.ClapProcessor.from_pretrained(clap_dir)
    model = transformers.ClapModel.from_pretrained(clap_dir)
    return lambda texts, waves: _direct(processor, model, texts, waves)


def _direct(processor: Any, model: Any, texts: list[str], waves: list[np.ndarray]) -> np.ndarray:
    import torch

    inputs = processor(text=texts, audio=waves, sampling_rate=48000, return_tensors="pt", padding=True)
    with torch.inference_mode():
        text = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        audio = model.get_audio_features(input_features=inputs["input_features"], is_longer=inputs["is_longer"])
    t = text.pooler_output.double().numpy()
    a = audio.pooler_output.double().numpy()
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return np.asarray((t * a).sum(axis=1))


Direct = Callable[[list[str], list[np.ndarray]], np.ndarray]


def test_score_equals_a_direct_transformers_computation(scorer: ClapScorer, direct: Direct) -> None:
    waves = _waves(48000)
    scores = scorer.score(TEXTS, waves, 48000)
    assert scores.dtype == np.float64 and scores.shape == (4,)
    np.testing.assert_allclose(scores, direct(TEXTS, waves), atol=1e-6, rtol=0)
    assert np.all((scores >= -1.0) & (scores <= 1.0))
    assert len(set(np.round(scores, 9))) == 4  # four different pairs, four different cosines
    # the embeddings behind it are unit rows, and the score is their row-wise dot product
    text, audio = scorer.text_embeddings(TEXTS), scorer.audio_embeddings(waves, 48000)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose((text * audio).sum(axis=1), scores, atol=1e-6)


def test_other_rates_are_resampled_to_48k_with_soxr(scorer: ClapScorer, direct: Direct) -> None:
    import soxr

    waves = _waves(16000)
    upsampled = [np.asarray(soxr.resample(w, 16000, 48000), dtype=np.float32) for w in waves]
    np.testing.assert_allclose(scorer.score(TEXTS, waves, 16000), direct(TEXTS, upsampled), atol=1e-6)


def test_score_is_independent_of_batching(clap_dir: Path, scorer: ClapScorer) -> None:
    waves = _waves(48000)[:2]
    one_by_one = ClapScorer(str(clap_dir), batch_size=1)
    one_by_one.load()
    pairs = TEXTS[:2]
    np.testing.assert_allclose(one_by_one.score(pairs, waves, 48000), scorer.score(pairs, waves, 48000), atol=1e-6)
    one_by_one.unload()
    assert not one_by_one.loaded


def test_clip_longer_than_the_window_is_averaged_not_randomly_cropped(scorer: ClapScorer) -> None:
    (long,) = _waves(48000, (4.5,))  # the tiny extractor's window is 2 s: 2 + 2 + 0.5 s
    np.random.seed(0)
    first = scorer.audio_embeddings([long], 48000)
    np.random.seed(1)
    assert np.array_equal(first, scorer.audio_embeddings([long], 48000))
    parts = scorer.audio_embeddings([long[:96000], long[96000:192000], long[192000:]], 48000)
    mean = (parts * np.array([[96000.0], [96000.0], [24000.0]])).sum(axis=0)
    np.testing.assert_allclose(first[0], mean / np.linalg.norm(mean), atol=1e-6)


def test_mismatched_lengths_and_bad_input_are_errors(scorer: ClapScorer) -> None:
    waves = _waves(48000)
    with pytest.raises(ValueError, match="must pair up: got 3 texts and 4 waveforms"):
        scorer.score(TEXTS[:3], waves, 48000)
    with pytest.raises(TypeError, match="not one string"):
        scorer.score("a dog", waves[:1], 48000)
    with pytest.raises(ValueError, match="mono 1-D"):
        scorer.score(TEXTS[:1], [np.zeros((2, 4800), dtype=np.float32)], 48000)
    with pytest.raises(ValueError, match="waveform 0 is empty"):
        scorer.score(TEXTS[:1], [np.zeros(0, dtype=np.float32)], 48000)
    assert scorer.score([], [], 48000).shape == (0,)


def test_fingerprint_names_the_checkpoint(clap_dir: Path, tmp_path: Path, scorer: ClapScorer) -> None:
    assert scorer.fingerprint().startswith("clap:")
    assert ClapScorer(clap_dir).fingerprint() == scorer.fingerprint()  # no load needed
    other = build_tiny_clap(tmp_path / "other", seed=4)
    assert ClapScorer(other).fingerprint() != scorer.fingerprint()


def test_missing_checkpoint_and_use_before_load_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AudioLLMError, match=r"checkpoint directory '.*nowhere' does not exist"):
        ClapScorer(tmp_path / "nowhere").load()
    with pytest.raises(AudioLLMError, match="is not a directory"):
        ClapScorer(str(tmp_path / "nowhere")).load()
    with pytest.raises(AudioLLMError, match=r"call ClapScorer.load\(\) before"):
        ClapScorer(tmp_path).score(["x"], [np.zeros(10, dtype=np.float32)], 48000)


def test_missing_transformers_is_a_missing_dependency(clap_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    with pytest.raises(MissingDependency, match="the CLAP score needs the 'transformers' package") as info:
        ClapScorer(clap_dir).load()
    assert info.value.install == "pip install 'pytest-audiollm[hf]'"
