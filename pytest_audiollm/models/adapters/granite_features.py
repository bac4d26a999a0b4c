"""Granite Speech input features computed with torch alone (transformers' extractor needs torchaudio).

:class:`GraniteFeatures` reproduces ``transformers.GraniteSpeechFeatureExtractor`` (transformers 5.x) without
torchaudio, which does not work with the torch builds this project supports. Per clip (mono, 16 kHz):

1. the batch is zero-padded to its longest clip;
2. power spectrogram: ``|STFT|^2`` with a periodic Hann window of ``win_length`` (400) zero-padded to ``n_fft``
   (512), hop ``hop_length`` (160), centred frames with reflect padding (``torchaudio.transforms.Spectrogram``
   defaults, ``power=2``);
3. mel: an HTK-scale triangular filterbank of ``n_mels`` (80) filters from 0 Hz to ``sample_rate/2``, no area
   normalisation (``torchaudio.functional.melscale_fbanks(..., norm=None, mel_scale="htk")``);
4. ``log10(max(mel, 1e-10))``, floored at the clip's maximum minus 8, then ``/4 + 1``;
5. the last frame is dropped when the frame count is odd, and frames are stacked in pairs:
   ``[batch, frames/2, 2*n_mels]`` (160 features per encoder frame).

The number of audio tokens a clip of ``n`` samples becomes is ``ceil((n // hop + 1) // 2 / window) *
(window // downsample)`` (window 15, downsample 5: 3 tokens per 15 encoder frames, 10 per second).
``input_features_mask`` marks, per clip, its first that-many projector outputs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["GraniteFeatures", "hz_to_mel", "mel_filterbank", "mel_to_hz"]

_DEFAULTS: dict[str, int] = {"sampling_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80,
                             "projector_window_size": 15, "projector_downsample_rate": 5}  # fmt: skip


def hz_to_mel(freq: float) -> float:
    """HTK mel scale."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def mel_to_hz(mel: Any) -> Any:
    """Inverse of :func:`hz_to_mel` (works on floats and tensors)."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> Any:
    """``[n_freqs, n_mels]`` float32 tensor of triangular HTK filters, as ``torchaudio.functional.melscale_fbanks``."""
    import torch

    f_max = float(sample_rate // 2) if f_max is None else f_max
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


class GraniteFeatures:
    """The Granite Speech feature extractor: settings from the checkpoint's config, features with torch."""

    def __init__(self, **settings: Any) -> None:
        values = {**_DEFAULTS, **{k: int(v) for k, v in settings.items() if k in _DEFAULTS and v is not None}}
        self.sampling_rate = values["sampling_rate"]
        self.n_fft = values["n_fft"]
        self.win_length = values["win_length"]
        self.hop_length = values["hop_length"]
        self.n_mels = values["n_mels"]
        self.window_size = values["projector_window_size"]
        self.downsample_rate = values["projector_downsample_rate"]
        self._filters: Any = None

    @classmethod
    def from_config_file(cls, path: Path | None) -> GraniteFeatures:
        """Settings from ``preprocessor_config.json`` or ``processor_config.json`` (flat keys or the older
        ``melspec_kwargs`` dict, ``sample_rate`` there); the extractor's defaults for what is missing."""
        data: Any = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = {}
        if isinstance(data, dict):
            data = data.get("audio_processor", data.get("feature_extractor", data))
        if not isinstance(data, dict):
            data = {}
        settings = dict(data)
        mel = data.get("melspec_kwargs")
        if isinstance(mel, dict):
            settings.update(mel)
            if "sample_rate" in mel:
                settings["sampling_rate"] = mel["sample_rate"]
        return cls(**settings)

    def token_count(self, n_samples: int) -> int:
        """Audio tokens (projector outputs) for a clip of ``n_samples``, as the transformers extractor counts."""
        mel_length = n_samples // self.hop_length + 1
        encoder_length = mel_length // 2
        blocks = math.ceil(encoder_length / self.window_size)
        return blocks * (self.window_size // self.downsample_rate)

    def filters(self) -> Any:
        if self._filters is None:
            self._filters = mel_filterbank(self.n_fft // 2 + 1, self.n_mels, self.sampling_rate)
        return self._filters

    def log_mel(self, batch: Any) -> Any:
        """``[batch, samples]`` float waveforms -> ``[batch, frames, 2*n_mels]`` stacked log-mel features."""
        import torch

        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float32)
        with torch.no_grad():
            spec = torch.stft(
                batch.float(),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=window,
                center=True,
                pad_mode="reflect",
                normalized=False,
                onesided=True,
                return_complex=True,
            )
            power = spec.abs().pow(2.0)  # [batch, freqs, frames]
            mel = torch.matmul(power.transpose(-1, -2), self.filters())  # [batch, frames, n_mels]
            logmel = mel.clamp(min=1e-10).log10()
            peak = logmel.amax(dim=(-2, -1), keepdim=True)
            logmel = torch.maximum(logmel, peak - 8.0) / 4 + 1
            if logmel.shape[1] % 2 == 1:
                logmel = logmel[:, :-1]
            return logmel.reshape(batch.shape[0], -1, 2 * self.n_mels)

    def __call__(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        """Model inputs (``input_features``, ``input_features_mask``) and the token count of each clip."""
        import torch

        waves = [torch.as_tensor(a, dtype=torch.float32).reshape(-1) for a in audios]
        counts = [self.token_count(len(w)) for w in waves]
        batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True, padding_value=0.0)
        features = self.log_mel(batch)
        mask = torch.arange(max(counts)).view(1, -1) < torch.tensor(counts).view(-1, 1)
        return {"input_features": features, "input_features_mask": mask}, counts
