"""Paired (reference vs generated) spectrogram metrics: PSNR, SSIM, LSD (pure NumPy, float64).

audioldm-eval 0.0.3 (``eval.py:calculate_psnr_ssim``) computes PSNR and SSIM on 2-D log-mel
spectrograms (64 mel bands x frames) scaled to [0, 1] (see :func:`audioldm_mel_scale`), both cropped
to the shorter length, with scikit-image::

    psnr = skimage.metrics.peak_signal_noise_ratio(mel_gen, mel_ref)          # data_range inferred = 1
    ssim = skimage.metrics.structural_similarity(mel_gen, mel_ref, data_range=max(both) - min(both))

and averages over pairs, skipping pairs with infinite PSNR. :func:`psnr` and :func:`ssim` reproduce
those calls (the tests compare against scikit-image) without depending on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]

__all__ = ["lsd", "psnr", "ssim"]


def _pair(ref: ArrayLike, est: ArrayLike) -> tuple[Array, Array]:
    import numpy as np

    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(est, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape} (crop to the shorter length first)")
    if a.size == 0:
        raise ValueError("empty input")
    return a, b


def psnr(ref: ArrayLike, est: ArrayLike, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB; ``inf`` when identical.

    ``data_range=1`` is what scikit-image infers for audioldm_eval's float mels in [0, 1] (it uses the
    float dtype range (-1, 1): ``1`` when the first image is non-negative, else ``2``; pass ``2.0`` for
    signed inputs to match it).
    """
    import numpy as np

    a, b = _pair(ref, est)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range * data_range / mse))


def _box_mean_valid(img: Array, w: int) -> Array:
    """Mean over every w x w window fully inside ``img`` (integral image), shape (H-w+1, W-w+1)."""
    import numpy as np

    c = np.zeros((img.shape[0] + 1, img.shape[1] + 1))
    c[1:, 1:] = img.cumsum(axis=0).cumsum(axis=1)
    s: Array = c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]
    return s / (w * w)


def ssim(
    ref_spec: ArrayLike,
    est_spec: ArrayLike,
    *,
    data_range: float | None = None,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean structural similarity of two 2-D spectrograms, as scikit-image's ``structural_similarity``.

    Same parameters as audioldm_eval's call (scikit-image defaults): uniform ``7 x 7`` window,
    ``K1 = 0.01``, ``K2 = 0.03``, sample (ddof=1) local variances, mean over the windows that lie fully
    inside the image (scikit-image filters with reflection, then crops ``(win_size-1)//2`` from every
    edge, which leaves exactly those windows). ``data_range=None`` uses audioldm_eval's choice
    ``max(both) - min(both)``. The result is symmetric in its arguments.
    """

    a, b = _pair(ref_spec, est_spec)
    if a.ndim != 2:
        raise ValueError(f"expected 2-D spectrograms, got shape {a.shape}")
    if win_size < 3 or win_size % 2 == 0 or win_size > min(a.shape):
        raise ValueError(f"win_size must be odd, >= 3 and <= min(shape)={min(a.shape)}; got {win_size}")
    if data_range is None:
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    if not data_range > 0:
        raise ValueError("data_range must be > 0 (constant inputs?)")
    npix = win_size * win_size
    cov_norm = npix / (npix - 1.0)
    ux = _box_mean_valid(a, win_size)
    uy = _box_mean_valid(b, win_size)
    uxx = _box_mean_valid(a * a, win_size)
    uyy = _box_mean_valid(b * b, win_size)
    uxy = _box_mean_valid(a * b, win_size)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def lsd(ref: ArrayLike, est: ArrayLike, *, eps: float = 1e-12) -> float:
    """Log-spectral distance between two *magnitude* spectrograms of shape (freq, frames).

    ssr_eval's definition (used by audioldm_eval's ``calculate_lsd``), with ``X = ref``, ``Y = est``::

        LSD = mean_t sqrt( mean_f ( log10( X[f,t]^2 / (Y[f,t] + eps)^2 + eps ) )^2 )

    i.e. the per-frame RMS over frequency of the log10 power ratio (bels, not dB), averaged over
    frames; ``eps = 1e-12``. audioldm_eval computes the magnitudes with
    ``|librosa.stft(x, n_fft=int(2048 / (44100 / sr)), hop_length=sr // 100)|`` after peak
    normalisation; this function takes the spectrograms, so any STFT can be used.
    """
    import numpy as np

    x, y = _pair(ref, est)
    if x.ndim != 2:
        raise ValueError(f"expected 2-D (freq, frames) spectrograms, got shape {x.shape}")
    if np.any(x < 0) or np.any(y < 0):
        raise ValueError("lsd expects magnitude spectrograms (non-negative)")
    r = np.log10(x * x / (y + eps) ** 2 + eps) ** 2
    return float(np.mean(np.sqrt(np.mean(r, axis=0))))
