"""The spectrograms of the paired metrics, computed as audioldm-eval 0.0.3 computes them (NumPy, float64).

- PSNR / SSIM: audioldm_eval's ``TacotronSTFT`` log-mel (:func:`tacotron_mel`): the waveform clipped to [-1, 1],
  reflect-padded by ``n_fft / 2``, a magnitude STFT with a periodic Hann window, a 64-band Slaney mel filterbank
  (librosa's ``filters.mel`` defaults: Slaney scale and area normalisation) from 50 Hz to 8 kHz (16 kHz audio; 14 kHz
  at 32 kHz), then :func:`audioldm_mel_scale` to [0, 1]. Parameters
  ``(n_fft, hop, fmax)`` = (512, 160, 8000) at 16 kHz and (1024, 320, 14000) at 32 kHz.
- LSD: ssr_eval's ``AudioMetrics`` magnitude STFT (:func:`lsd_spectrogram`): ``n_fft = int(2048 / (44100 / sr))``
  (743 at 16 kHz), hop ``sr // 100``, periodic Hann, ``center=True`` with zero padding (librosa >= 0.10's default).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]
    ArrayLike = npt.ArrayLike

__all__ = ["audioldm_mel_scale", "lsd_spectrogram", "mel_filterbank", "tacotron_mel"]

_TACOTRON = {16000: (512, 160, 8000.0), 32000: (1024, 320, 14000.0)}


def _hz_to_mel(hz: Array) -> Array:
    import numpy as np

    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: Array) -> Array:
    import numpy as np

    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> Array:
    """librosa ``filters.mel(sr, n_fft, n_mels, fmin, fmax)`` with its defaults (Slaney scale, Slaney norm).

    ``(n_mels, n_fft // 2 + 1)``, read-only (cached). Used by the PSNR/SSIM mels and CNN14's default front end.
    """
    import numpy as np

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    diffs = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / diffs[:-1, None]
    upper = ramps[2:] / diffs[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    weights.setflags(write=False)  # cached and shared: nobody may change it
    return weights


def _stft_magnitude(x: Array, n_fft: int, hop: int, pad_mode: str) -> Array:
    """|STFT| (freq, frames) with a periodic Hann window of length n_fft, centred frames."""
    import numpy as np

    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    half = n_fft // 2
    if pad_mode == "reflect" and x.shape[0] <= half:
        raise ValueError(f"{x.shape[0]} samples are too few for a reflect-padded STFT of size {n_fft}")
    padded = np.pad(x, (half, half), mode=pad_mode)  # type: ignore[call-overload]
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum: Array = np.abs(np.fft.rfft(frames * window, axis=1)).T
    return spectrum


def audioldm_mel_scale(mel_magnitude: ArrayLike) -> Array:
    """audioldm_eval's [0, 1] log-mel scaling of a *magnitude* mel spectrogram.

    ``m = 20 * log10(max(mel, 1e-5)) - 20``; ``m = (m + 100) / 100``; ``clip(m, 0, 1)``
    (``TacotronSTFT.mel_spectrogram(normalize_fun=torch.log10)`` followed by ``MelPairedDataset``'s
    normalisation).
    """
    import numpy as np

    m = np.log10(np.maximum(np.asarray(mel_magnitude, dtype=np.float64), 1e-5))
    m = 20.0 * m - 20.0
    out: Array = np.clip((m + 100.0) / 100.0, 0.0, 1.0)
    return out


def tacotron_mel(wave: npt.NDArray[np.float32], sample_rate: int) -> Array:
    """The [0, 1]-scaled 64-band log-mel (64, frames) that audioldm_eval's PSNR and SSIM compare."""
    import numpy as np

    if sample_rate not in _TACOTRON:
        raise ValueError(f"PSNR/SSIM mels exist for 16000 and 32000 Hz, got {sample_rate}")
    n_fft, hop, fmax = _TACOTRON[sample_rate]
    x = np.clip(wave.astype(np.float64), -1.0, 1.0)
    magnitude = _stft_magnitude(x, n_fft, hop, "reflect")
    mel = mel_filterbank(sample_rate, n_fft, 64, 50.0, fmax) @ magnitude
    return audioldm_mel_scale(mel)


def lsd_spectrogram(wave: npt.NDArray[np.float64], sample_rate: int) -> Array:
    """ssr_eval's LSD magnitude spectrogram (freq, frames)."""
    n_fft = int(2048 / (44100 / sample_rate))
    return _stft_magnitude(wave, n_fft, sample_rate // 100, "constant")
