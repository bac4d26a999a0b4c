"""VGGish (Hershey et al. 2017) as audioldm_eval's FAD uses it, with the torchvggish state-dict layout.

audioldm_eval's ``FrechetAudioDistance`` takes ``torch.hub.load("harritaylor/torchvggish", "vggish")``,
turns the PCA/quantisation post-processing off and drops the final ReLU of ``embeddings``, so an embedding
is the raw 128-d output of the last linear layer. :class:`VGGish` is that network:

* ``features``: conv3x3(1->64) ReLU maxpool2, conv(64->128) ReLU maxpool2, conv(128->256) ReLU,
  conv(256->256) ReLU maxpool2, conv(256->512) ReLU, conv(512->512) ReLU maxpool2 (Sequential indices 0..15,
  keys ``features.{0,3,6,8,11,13}.{weight,bias}``);
* the ``[N, 512, 6, 4]`` map is flattened in TensorFlow's NHWC order;
* ``embeddings``: Linear(12288->4096) ReLU, Linear(4096->4096) ReLU, Linear(4096->128) (keys
  ``embeddings.{0,2,4}.{weight,bias}``) -- the official ``vggish-10086976.pth``.

:func:`vggish_examples` is ``torchvggish.vggish_input.waveform_to_examples`` for 16 kHz mono input, in
NumPy (float64): STFT with a 400-sample (25 ms) periodic Hann window, hop 160 (10 ms), FFT 512, magnitude;
64 HTK-mel bands 125-7500 Hz (triangles in the mel domain, DC bin zeroed, no area normalisation);
``log(mel + 0.01)``; non-overlapping 96-frame (0.96 s) examples, an incomplete last one dropped. There is no
resampling (torchvggish uses resampy for other rates): resample to 16 kHz first.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from pytest_audiollm.features.backbones._common import StateDictMismatch, load_strict

__all__ = ["VGGISH_CHECKPOINT_NAME", "VGGish", "build_vggish", "vggish_examples"]

VGGISH_CHECKPOINT_NAME = "vggish-10086976.pth"
SAMPLE_RATE = 16000
_WINDOW = 400
_HOP = 160
_FFT = 512
_MELS = 64
_EXAMPLE_FRAMES = 96
_LOG_OFFSET = 0.01


@lru_cache(maxsize=1)
def _htk_mel_matrix() -> NDArray[np.float64]:
    """``mel_features.spectrogram_to_mel_matrix(64, 257, 16000, 125, 7500)``: ``(257, 64)``."""

    def hertz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = 1127.0 * np.log(1.0 + hz / 700.0)
        return out

    bins = _FFT // 2 + 1
    bins_mel = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2.0, bins))
    low, high = hertz_to_mel(np.array([125.0, 7500.0]))
    edges = np.linspace(low, high, _MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slope = (bins_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - bins_mel[:, None]) / (upper - center)
    matrix: NDArray[np.float64] = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    matrix[0, :] = 0.0
    matrix.setflags(write=False)
    return matrix


def vggish_examples(waveform: NDArray[Any], sample_rate: int = SAMPLE_RATE) -> NDArray[np.float64]:
    """Log-mel examples ``[N, 96, 64]`` (float64) of a mono 16 kHz waveform; ``N = 0`` below ~0.975 s."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(
            f"VGGish examples need 16000 Hz audio, got {sample_rate} Hz: resample first "
            "(pytest_audiollm resamples with soxr when it loads audio)."
        )
    signal = np.asarray(waveform, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"vggish_examples takes a mono 1-D waveform, got shape {signal.shape}.")
    n_frames = 1 + (signal.shape[0] - _WINDOW) // _HOP if signal.shape[0] >= _WINDOW else 0
    n_examples = n_frames // _EXAMPLE_FRAMES
    if n_examples == 0:
        return np.zeros((0, _EXAMPLE_FRAMES, _MELS), dtype=np.float64)
    # only the frames that end up in a complete example are computed
    frames = np.lib.stride_tricks.sliding_window_view(signal, _WINDOW)[::_HOP][: n_examples * _EXAMPLE_FRAMES]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi / _WINDOW * np.arange(_WINDOW))
    magnitude = np.abs(np.fft.rfft(frames * window, _FFT))
    log_mel = np.log(np.dot(magnitude, _htk_mel_matrix()) + _LOG_OFFSET)
    examples: NDArray[np.float64] = log_mel.reshape(n_examples, _EXAMPLE_FRAMES, _MELS)
    return examples


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 1
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """VGGish without PCA and without the final ReLU: ``forward(examples [N, 1, 96, 64])`` -> ``[N, 128]``."""

    sample_rate = SAMPLE_RATE
    dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.features = _features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 128),
        )
        self.eval()

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # (N, 512, 6, 4)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # TF's NHWC flattening
        out: torch.Tensor = self.embeddings(x)
        return out

    def load_official(self, state_dict: Mapping[str, Any]) -> VGGish:
        """Load torchvggish weights (``vggish-10086976.pth``); strict. Returns ``self`` in eval mode.

        ``pproc.*`` tensors (the PCA parameters that a torch.hub ``VGGish`` module's own state dict holds)
        are ignored: audioldm_eval's FAD does not post-process.
        """
        if not isinstance(state_dict, Mapping):
            raise StateDictMismatch("The checkpoint given for VGGish is not a state dict (a mapping of tensors).")
        weights = {k: v for k, v in state_dict.items() if not k.startswith("pproc.")}
        hint = (
            f"The official file is {VGGISH_CHECKPOINT_NAME} "
            "(github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth)."
        )
        load_strict(self, weights, "VGGish", hint)
        self.eval()
        return self


def build_vggish() -> VGGish:
    """A VGGish with default (untrained) weights, in eval mode; call :meth:`VGGish.load_official` next."""
    return VGGish()
