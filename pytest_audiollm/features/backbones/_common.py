"""Shared pieces of the embedding backbones: the torchlibrosa-compatible log-mel front end and strict loading.

The CNN14 front end is a conv-DFT spectrogram followed by a Slaney mel filterbank, laid out exactly like
``torchlibrosa.stft.Spectrogram`` / ``LogmelFilterBank`` so that the official PANNs checkpoints (which store
the DFT kernels and the filterbank) load unchanged: ``spectrogram_extractor.stft.conv_real.weight``,
``spectrogram_extractor.stft.conv_imag.weight`` and ``logmel_extractor.melW``. The default values built here
(periodic Hann DFT kernels, ``librosa.filters.mel`` Slaney filterbank) are computed in NumPy, without
librosa; a loaded checkpoint overwrites them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.features.spectra import mel_filterbank as slaney_mel_filterbank

__all__ = [
    "LogmelFilterBank",
    "Spectrogram",
    "StateDictMismatch",
    "dft_kernels",
    "load_strict",
    "slaney_mel_filterbank",
]

_SHOWN = 5  # how many offending keys an error message lists


class StateDictMismatch(AudioLLMError):
    """A checkpoint's tensors do not match the backbone (missing/unexpected keys or wrong shapes)."""


def dft_kernels(n_fft: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Real and imaginary conv-DFT kernels ``(n_fft//2+1, 1, n_fft)`` with a periodic Hann window.

    Row ``k`` holds ``w[n] cos(2 pi k n / N)`` and ``-w[n] sin(2 pi k n / N)`` (torchlibrosa's ``STFT``).
    """
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)
    phase = 2.0 * np.pi * (np.outer(k, n) % n_fft) / n_fft
    real = (np.cos(phase) * window)[:, None, :]
    imag = (-np.sin(phase) * window)[:, None, :]
    return real, imag


class _Stft(nn.Module):
    """Conv1d DFT of a reflect-padded signal (``torchlibrosa.stft.STFT`` with ``center=True``)."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, kernel_size=n_fft, stride=hop_length, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, kernel_size=n_fft, stride=hop_length, bias=False)
        real, imag = dft_kernels(n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(real))
            self.conv_imag.weight.copy_(torch.from_numpy(imag))
        for param in self.parameters():
            param.requires_grad = False

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real = self.conv_real(x)[:, None, :, :].transpose(2, 3)
        imag = self.conv_imag(x)[:, None, :, :].transpose(2, 3)
        return real, imag


class Spectrogram(nn.Module):
    """Power spectrogram ``(B, 1, frames, F)``, ``frames = 1 + samples // hop``; keys ``stft.conv_{real,imag}``."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.stft = _Stft(n_fft, hop_length)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft(waveform)
        power: torch.Tensor = real**2 + imag**2
        return power


class LogmelFilterBank(nn.Module):
    """``10 log10(max(S @ melW, 1e-10))`` in dB (ref 1.0, no top_db); key ``melW`` ``(F, n_mels)``."""

    def __init__(self, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> None:
        super().__init__()
        mel = slaney_mel_filterbank(sr, n_fft, n_mels, fmin, fmax).T
        self.melW = nn.Parameter(torch.tensor(mel, dtype=torch.float32), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(power, self.melW)
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))


def load_strict(module: nn.Module, state_dict: Mapping[str, Any], what: str, hint: str = "") -> None:
    """``module.load_state_dict(state_dict, strict=True)`` with a one-paragraph error naming the first bad keys."""
    expected = module.state_dict()
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
        for k, v in state_dict.items()
        if k in expected and isinstance(v, torch.Tensor) and v.shape != expected[k].shape
    ]
    problems = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("wrong shapes", mismatched),
        ("values that are not tensors", not_tensors),
    ):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{more}")
    if problems:
        raise StateDictMismatch(
            f"The checkpoint given for {what} does not match its official layout ({'; '.join(problems)}). "
            f"{hint}".rstrip()
        )
    module.load_state_dict(dict(state_dict), strict=True)
