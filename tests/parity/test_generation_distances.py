"""Differential tests of pytest_audiollm.metrics.generation against audioldm-eval 0.0.3, scipy and scikit-image.

audioldm_eval's package ``__init__`` imports torchaudio/ssr_eval (not installed), so its metric
modules (``metrics/fid.py``, ``kid.py``, ``isc.py``, ``kl.py``) are loaded directly from their files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pytest_audiollm.metrics.generation import (
    audioldm_mel_scale,
    frechet_distance,
    frechet_distance_from_embeddings,
    inception_score,
    kernel_audio_distance,
    kernel_inception_distance,
    kl_divergence,
    lsd,
    pair_by_basename,
    psnr,
    ssim,
)

REL = 1e-6
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _load_ref(name: str) -> ModuleType:
    pytest.importorskip("torch")
    pytest.importorskip("scipy")
    spec = importlib.util.find_spec("audioldm_eval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("audioldm-eval==0.0.3 not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics" / f"{name}.py"
    mspec = importlib.util.spec_from_file_location(f"_audioldm_ref_{name}", path)
    assert mspec is not None and mspec.loader is not None
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _emb(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.maximum(rng.normal(size=(n, d)) @ mix + shift, 0.0)  # ReLU-like, correlated


# ------------------------------------------------------------------ FD


@pytest.mark.parametrize(("n1", "n2", "d"), [(400, 300, 64), (50, 70, 96)])
def test_fd_matches_audioldm_eval(n1: int, n2: int, d: int) -> None:
    import torch

    fid = _load_ref("fid")
    rng = np.random.default_rng(0)
    x, y = _emb(rng, n1, d), _emb(rng, n2, d, 0.3)
    ref = fid.calculate_fid({"2048": torch.from_numpy(x)}, {"2048": torch.from_numpy(y)}, "2048")["frechet_distance"]
    for method in ("auto", "eigh", "gram"):
        res = frechet_distance_from_embeddings(x, y, method=method)  # type: ignore[arg-type]
        assert _rel(res.distance, ref) < REL, (method, res.distance, ref)
    res = frechet_distance_from_embeddings(x, y)
    assert (res.n1, res.n2, res.dim) == (n1, n2, d)
    assert res.method == ("gram" if min(n1, n2) < d else "eigh")
    assert res.small_sample == (min(n1, n2) <= d)
    assert (res.message is not None) == res.small_sample
    s = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert _rel(s, ref) < REL


def test_fd_identical_sets_is_zero_and_symmetric() -> None:
    rng = np.random.default_rng(1)
    x, y = _emb(rng, 200, 32), _emb(rng, 150, 32, 0.1)
    assert abs(frechet_distance_from_embeddings(x, x).distance) < 1e-8
    a = frechet_distance_from_embeddings(x, y).distance
    b = frechet_distance_from_embeddings(y, x).distance
    assert _rel(a, b) < 1e-10


def test_fd_gram_route_equals_eigh_route_2048d_1000_vs_1000() -> None:
    """N < d takes the Gram route, and it agrees with the eigh route (their costs: tests/perf/fad.py)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 2048))
    y = rng.normal(size=(1000, 2048)) * 1.1 + 0.05
    fast = frechet_distance_from_embeddings(x, y)
    assert fast.method == "gram" and fast.small_sample
    full = frechet_distance_from_embeddings(x, y, method="eigh")
    assert _rel(fast.distance, full.distance) < REL


def test_fd_input_validation() -> None:
    with pytest.raises(ValueError):
        frechet_distance_from_embeddings(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError):
        frechet_distance_from_embeddings(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------------ KID


@pytest.mark.parametrize(("n1", "n2", "size", "subsets"), [(120, 150, 50, 20), (60, 80, 100, 5)])
def test_kid_matches_audioldm_eval(n1: int, n2: int, size: int, subsets: int) -> None:
    import torch

    kid = _load_ref("kid")
    rng = np.random.default_rng(3)
    x, y = _emb(rng, n1, 40), _emb(rng, n2, 40, 0.2)
    ref = kid.calculate_kid(
        {"f": torch.from_numpy(x)},
        {"f": torch.from_numpy(y)},
        subsets=subsets,
        subset_size=size,
        degree=3,
        gamma=None,
        coef0=1,
        rng_seed=2020,
        feat_layer_name="f",
    )
    res = kernel_inception_distance(x, y, subsets=subsets, subset_size=size, seed=2020)
    assert _rel(res.mean, ref["kernel_inception_distance_mean"]) < REL
    assert abs(res.std - ref["kernel_inception_distance_std"]) <= REL * abs(res.mean) + 1e-12
    assert res.subset_size == min(size, n1, n2)
    assert (res.message is not None) == (size > min(n1, n2))


def test_kid_same_distribution_near_zero() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    far = kernel_inception_distance(x, y + 1.0, subsets=10, subset_size=100)
    near = kernel_inception_distance(x, y, subsets=10, subset_size=100)
    assert abs(near.mean) < 0.1 * far.mean


# ------------------------------------------------------------------ ISc


@pytest.mark.parametrize(("n", "splits", "shuffle"), [(203, 10, True), (57, 3, False)])
def test_isc_matches_audioldm_eval(n: int, splits: int, shuffle: bool) -> None:
    import torch

    isc = _load_ref("isc")
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(n, 527)) * 3.0
    ref = isc.calculate_isc(
        {"logits": torch.from_numpy(logits)},
        feat_layer_name="logits",
        rng_seed=2020,
        samples_shuffle=shuffle,
        splits=splits,
    )
    res = inception_score(logits, splits=splits, shuffle=shuffle, seed=2020)
    assert _rel(res.mean, ref["inception_score_mean"]) < REL
    assert abs(res.std - ref["inception_score_std"]) <= REL * res.mean
    # probabilities route gives the same number
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    res_p = inception_score(p, from_logits=False, splits=splits, shuffle=shuffle, seed=2020)
    assert _rel(res_p.mean, res.mean) < 1e-9
    assert len(res.split_scores) == splits and res.n == n


def test_isc_bounds() -> None:
    one_hot = np.eye(10)[np.arange(100) % 10] * 50.0
    res = inception_score(one_hot, splits=1)
    assert abs(res.mean - 10.0) < 1e-6
    with pytest.raises(ValueError):
        inception_score(np.zeros((3, 4)), splits=10)


# ------------------------------------------------------------------ KL


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_kl_matches_audioldm_eval(kind: str) -> None:
    import torch

    kl = _load_ref("kl")
    rng = np.random.default_rng(6)
    n = 40
    gen = rng.normal(size=(n, 527)) * 4.0
    ref_logits = gen + rng.normal(size=(n, 527)) * 2.0
    names = [f"/a/clip{i:03d}.wav" for i in range(n)]
    # reference side in a different order and directory: pairing is by basename
    perm = rng.permutation(n)
    out, _, _ = kl.calculate_kl(
        {"logits": torch.from_numpy(gen), "file_path_": names},
        {"logits": torch.from_numpy(ref_logits[perm]), "file_path_": [names[i].replace("/a/", "/b/") for i in perm]},
        "logits",
    )
    expected = out[f"kullback_leibler_divergence_{kind}"]
    ref_rows, gen_rows, missing = pair_by_basename([names[i].replace("/a/", "/b/") for i in perm], names)
    assert not missing
    got = kl_divergence(ref_logits[perm][ref_rows], gen[gen_rows], kind=kind)  # type: ignore[arg-type]
    assert _rel(got, expected) < REL, (got, expected)


def test_kl_identical_and_pairing() -> None:
    z = np.random.default_rng(7).normal(size=(5, 20))
    assert abs(kl_divergence(z, z)) < 1e-4  # only the EPS term remains
    r, g, missing = pair_by_basename(["x/a.wav", "x/b.wav", "x/c.wav"], ["y/c.wav", "y/a.wav"])
    assert (r, g, missing) == ([0, 2], [1, 0], ["b.wav"])
    with pytest.raises(ValueError):
        kl_divergence(z, z, kind="bernoulli")  # type: ignore[arg-type]


# ------------------------------------------------------------------ KAD


def _kad_direct(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    def d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    dyy = d(y, y)
    sigma = float(np.median(dyy[np.triu_indices(len(y), 1)]))

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-(d(a, b) ** 2) / (2 * sigma**2 + 1e-8))

    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    mmd = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    return 100 * mmd, sigma


def test_kad_matches_direct_formula() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(60, 12)), rng.normal(size=(70, 12)) + 0.3
    want, sigma = _kad_direct(x, y)
    res = kernel_audio_distance(x, y)
    assert _rel(res.value, want) < 1e-9 and _rel(res.bandwidth, sigma) < 1e-12
    assert res.value == pytest.approx(100 * res.mmd2)
    near = kernel_audio_distance(rng.normal(size=(200, 12)), rng.normal(size=(200, 12)))
    assert abs(near.value) < 0.2 * res.value
    assert kernel_audio_distance(x, y, bandwidth=2.0).bandwidth == 2.0


# ------------------------------------------------------------------ PSNR / SSIM / LSD


def _mels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(rng.normal(size=(64, 300))) * 0.05
    a = audioldm_mel_scale(mag)
    b = audioldm_mel_scale(mag * np.exp(rng.normal(size=mag.shape) * 0.3))
    return a, b


def test_psnr_ssim_match_skimage() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(9)
    gen, target = _mels(rng)
    assert gen.min() >= 0 and gen.max() <= 1
    # audioldm_eval: psnr(mel_gen, mel_target) with inferred data_range; ssim with max-min data_range
    assert _rel(psnr(target, gen), metrics.peak_signal_noise_ratio(gen, target)) < 1e-12
    dr = max(gen.max(), target.max()) - min(gen.min(), target.min())
    want = metrics.structural_similarity(gen, target, data_range=dr)
    assert _rel(ssim(target, gen), want) < 1e-9
    assert _rel(ssim(gen, target, data_range=1.0), metrics.structural_similarity(gen, target, data_range=1.0)) < 1e-9
    assert (
        _rel(ssim(gen, target, win_size=11), metrics.structural_similarity(gen, target, data_range=dr, win_size=11))
        < 1e-9
    )
    # float32 inputs (what audioldm_eval feeds): skimage works in float32 there
    g32, t32 = gen.astype(np.float32), target.astype(np.float32)
    assert _rel(ssim(t32, g32), metrics.structural_similarity(g32, t32, data_range=float(dr))) < 1e-4
    assert psnr(gen, gen) == float("inf")
    assert abs(ssim(gen, gen) - 1.0) < 1e-12


def test_lsd_matches_formula() -> None:
    rng = np.random.default_rng(10)
    x = np.abs(rng.normal(size=(372, 50)))
    y = x * np.exp(rng.normal(size=x.shape) * 0.2)
    eps = 1e-12
    want = 0.0
    for t in range(x.shape[1]):
        acc = 0.0
        for f in range(x.shape[0]):
            acc += np.log10(x[f, t] ** 2 / (y[f, t] + eps) ** 2 + eps) ** 2
        want += np.sqrt(acc / x.shape[0])
    want /= x.shape[1]
    assert _rel(lsd(x, y), want) < 1e-12
    assert lsd(x, x) < 1e-9
    with pytest.raises(ValueError):
        lsd(x, y[:, :10])
