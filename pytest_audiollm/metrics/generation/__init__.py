"""Audio-generation metrics: distribution distances over embeddings and paired spectrogram metrics.

Pure NumPy, float64 statistics. The ``audioldm_eval``-compatible pieces reproduce
``audioldm-eval==0.0.3`` (PyPI, June 2023); see each function's docstring for the exact definition.
One module per job: ``frechet`` (FD/FAD), ``kernel`` (KID, KAD), ``classifier`` (ISc, KL), ``paired``
(PSNR, SSIM, LSD), ``weights`` (backbone checkpoints) and ``embedding_cache`` (per-file embeddings on disk).
"""

from __future__ import annotations

from pytest_audiollm.features.spectra import audioldm_mel_scale
from pytest_audiollm.metrics.generation.classifier import (
    InceptionScoreResult,
    inception_score,
    kl_divergence,
    pair_by_basename,
)
from pytest_audiollm.metrics.generation.frechet import FrechetResult, frechet_distance, frechet_distance_from_embeddings
from pytest_audiollm.metrics.generation.kernel import (
    KADResult,
    KIDResult,
    kernel_audio_distance,
    kernel_inception_distance,
)
from pytest_audiollm.metrics.generation.paired import lsd, psnr, ssim

__all__ = [
    "FrechetResult",
    "InceptionScoreResult",
    "KADResult",
    "KIDResult",
    "audioldm_mel_scale",
    "frechet_distance",
    "frechet_distance_from_embeddings",
    "inception_score",
    "kernel_audio_distance",
    "kernel_inception_distance",
    "kl_divergence",
    "lsd",
    "pair_by_basename",
    "psnr",
    "ssim",
]
