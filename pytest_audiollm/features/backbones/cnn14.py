"""PANNs CNN14 (Kong et al. 2020) in eval mode, with the official state-dict layout.

Reproduces the ``Cnn14`` class that ``audioldm-eval==0.0.3`` ships
(``audioldm_eval/feature_extractors/panns/models.py``, itself ``qiuqiangkong/audioset_tagging_cnn``) for
inference: ``embedding = relu(fc1(.))`` (audioldm_eval's ``"2048"`` layer, FD/KID) and
``logits = fc_audioset(embedding)`` (its ``"logits"`` layer, ISc/KL). Dropout and SpecAugment are
training-only and left out. Two variants:

==========  ======  ===  ====  ====  ============  ==========================
rate        n_fft   hop  mels  fmin  fmax          official checkpoint
==========  ======  ===  ====  ====  ============  ==========================
16000 Hz    512     160  64    50    8000          ``Cnn14_16k_mAP=0.438.pth``
32000 Hz    1024    320  64    50    14000         ``Cnn14_mAP=0.431.pth``
==========  ======  ===  ====  ====  ============  ==========================

Input: float32 waveforms ``[B, T]`` in [-1, 1] at exactly the model rate, ``T > n_fft // 2`` (reflect
padding) and ``1 + T // hop >= 32`` frames (five 2x2 poolings), i.e. at least ``31 * hop`` samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_audiollm.features.backbones._common import (
    LogmelFilterBank,
    Spectrogram,
    StateDictMismatch,
    load_strict,
)

__all__ = ["CNN14_CONFIGS", "Cnn14", "Cnn14Config", "build_cnn14"]


@dataclass(frozen=True)
class Cnn14Config:
    """Front-end parameters of one CNN14 variant (the network itself is the same for every rate)."""

    sample_rate: int
    window_size: int
    hop_size: int
    mel_bins: int
    fmin: float
    fmax: float
    classes_num: int = 527
    checkpoint_name: str = ""

    @property
    def min_samples(self) -> int:
        """Shortest input the network accepts: 32 STFT frames."""
        return 31 * self.hop_size


CNN14_CONFIGS: dict[int, Cnn14Config] = {
    16000: Cnn14Config(16000, 512, 160, 64, 50.0, 8000.0, checkpoint_name="Cnn14_16k_mAP=0.438.pth"),
    32000: Cnn14Config(32000, 1024, 320, 64, 50.0, 14000.0, checkpoint_name="Cnn14_mAP=0.431.pth"),
}


class ConvBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> average pooling (keys ``conv1, conv2, bn1, bn2``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int]) -> torch.Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


class Cnn14(nn.Module):
    """CNN14 audio tagger: ``forward(waveform [B, T])`` -> ``{"embedding": [B, 2048], "logits": [B, 527]}``."""

    def __init__(self, config: Cnn14Config) -> None:
        super().__init__()
        self.config = config
        self.spectrogram_extractor = Spectrogram(config.window_size, config.hop_size)
        self.logmel_extractor = LogmelFilterBank(
            config.sample_rate, config.window_size, config.mel_bins, config.fmin, config.fmax
        )
        self.bn0 = nn.BatchNorm2d(config.mel_bins)
        self.conv_block1 = ConvBlock(1, 64)
        self.conv_block2 = ConvBlock(64, 128)
        self.conv_block3 = ConvBlock(128, 256)
        self.conv_block4 = ConvBlock(256, 512)
        self.conv_block5 = ConvBlock(512, 1024)
        self.conv_block6 = ConvBlock(1024, 2048)
        self.fc1 = nn.Linear(2048, 2048, bias=True)
        self.fc_audioset = nn.Linear(2048, config.classes_num, bias=True)
        self.eval()

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))  # (B, 1, frames, mels)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for block in (self.conv_block1, self.conv_block2, self.conv_block3, self.conv_block4, self.conv_block5):
            x = block(x, pool_size=(2, 2))
        x = self.conv_block6(x, pool_size=(1, 1))
        x = torch.mean(x, dim=3)
        x = torch.max(x, dim=2).values + torch.mean(x, dim=2)
        embedding = F.relu_(self.fc1(x))
        logits = self.fc_audioset(embedding)
        return {"embedding": embedding, "logits": logits}

    def load_official(self, state_dict: Mapping[str, Any]) -> Cnn14:
        """Load an official PANNs checkpoint (the whole ``torch.load`` result or its ``["model"]``); strict.

        Returns ``self`` (already in eval mode). Raises
        :class:`~pytest_audiollm.features.backbones._common.StateDictMismatch` listing the first missing,
        unexpected or wrongly shaped keys (e.g. the 32 kHz checkpoint given to the 16 kHz model).
        """
        inner = state_dict.get("model") if "model" in state_dict else state_dict
        if not isinstance(inner, Mapping):
            raise StateDictMismatch(
                f"The checkpoint given for CNN14 ({self.sample_rate} Hz) is not a PANNs checkpoint: its 'model' "
                "entry is not a state dict. Pass torch.load(path)['model'] of an official PANNs .pth file."
            )
        hint = (
            f"The official file for {self.sample_rate} Hz is {self.config.checkpoint_name} "
            "(zenodo.org/record/3987831); a PANNs checkpoint is the dict saved under the key 'model'."
        )
        conv = inner.get("spectrogram_extractor.stft.conv_real.weight")
        if isinstance(conv, torch.Tensor) and conv.ndim == 3 and conv.shape[-1] != self.config.window_size:
            other = [c for c in CNN14_CONFIGS.values() if c.window_size == conv.shape[-1]]
            if other:
                hint = (
                    f"Its STFT has n_fft={conv.shape[-1]}, i.e. it is the {other[0].sample_rate} Hz model "
                    f"({other[0].checkpoint_name}): use build_cnn14({other[0].sample_rate}). " + hint
                )
        load_strict(self, inner, f"CNN14 ({self.sample_rate} Hz)", hint)
        self.eval()
        return self


def build_cnn14(sample_rate: int) -> Cnn14:
    """A CNN14 for 16000 or 32000 Hz with default (untrained) network weights, in eval mode.

    The front end already holds the torchlibrosa DFT kernels and Slaney mel filterbank; call
    :meth:`Cnn14.load_official` with the official checkpoint to get the trained network.
    """
    config = CNN14_CONFIGS.get(sample_rate)
    if config is None:
        raise ValueError(
            f"CNN14 exists for sample rates 16000 and 32000 Hz only, not {sample_rate!r}: "
            "resample the audio to one of them and pass that rate."
        )
    return Cnn14(config)
