"""How a generated or reference file becomes the waveform the metrics see, under a named preset.

Two presets (recorded in every result):

``audioldm_eval-0.0.3`` reproduces the PyPI wheel ``audioldm-eval==0.0.3`` (June 2023):
  first channel only; DC removal (``x - mean(x)``); resampling with torchaudio's default
  ``functional.resample`` (windowed sinc, Hann window, ``lowpass_filter_width=6``, ``rolloff=0.99``),
  reimplemented here in NumPy (:func:`sinc_hann_resample`); right-padding with zeros to 32,000 samples before
  the embedding networks; pairing by file basename; paired mode when the shared basenames cover more than 99 %
  of both folders; LSD drops the first 1,120 generated samples (its "HiFi-GAN offset"); a pair whose mel
  spectrograms are identical (infinite PSNR) is left out of both the PSNR and the SSIM means.

``clean`` (the default): channels averaged; no DC removal; soxr "VHQ" resampling; short clips padded to 1 s
(the shortest input both networks accept); pairing by file stem (``dog.wav`` pairs with ``dog.flac``; relative
paths kept); paired mode when every generated file has a partner; no LSD offset; a pair whose mel spectrograms are
identical is left out of PSNR (infinite) but scores SSIM 1.0.

Every file is checked before it enters a distribution: unreadable, empty, silent (peak below 1e-6) or non-finite
audio raises :class:`~pytest_audiollm.errors.SampleError` with the reason.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_audiollm.errors import SampleError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Wave = npt.NDArray[np.float32]

__all__ = ["PRESETS", "Clip", "FileFeatures", "Preset", "read_clip", "sinc_hann_resample"]

SILENCE_PEAK = 1e-6


@dataclass(frozen=True)
class Preset:
    """The front-end choices that change metric values (see the module docstring)."""

    name: str
    first_channel: bool
    remove_dc: bool
    pad_to_samples: int | None  # right-pad to this many samples (at the network's rate) before embedding
    pad_to_seconds: float | None  # or to this duration
    resampler: str  # "sinc_hann" (torchaudio's default) or "soxr"
    pair_by: str  # "basename" or "stem"
    paired_share: float  # auto mode is paired when pairs cover more than this share of both sets (1.0: all)
    lsd_offset: int  # generated samples dropped before LSD
    ssim_skips_identical: bool  # identical mels left out of SSIM too (audioldm_eval), not scored 1.0

    def pair_key(self, relative: str) -> str:
        path = Path(relative)
        return path.name if self.pair_by == "basename" else path.with_suffix("").as_posix()

    def pad(self, wave: Wave, rate: int) -> Wave:
        import numpy as np

        target = self.pad_to_samples or (round(self.pad_to_seconds * rate) if self.pad_to_seconds else 0)
        if wave.shape[0] >= target:
            return wave
        return np.concatenate([wave, np.zeros(target - wave.shape[0], dtype=np.float32)])

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name, "channel": "first" if self.first_channel else "mean", "remove_dc": self.remove_dc,
            "pad_to_samples": self.pad_to_samples, "pad_to_seconds": self.pad_to_seconds,
            "resampler": self.resampler, "pair_by": self.pair_by, "paired_share": self.paired_share,
            "lsd_offset": self.lsd_offset, "ssim_skips_identical": self.ssim_skips_identical,
        }  # fmt: skip


PRESETS: dict[str, Preset] = {
    "audioldm_eval-0.0.3": Preset(
        "audioldm_eval-0.0.3", True, True, 32000, None, "sinc_hann", "basename", 0.99, 1120, True
    ),
    "clean": Preset("clean", False, False, None, 1.0, "soxr", "stem", 1.0, 0, False),
}


@dataclass
class Clip:
    """One decoded, checked file: mono float32 at its own rate, resampled on demand (cached per rate)."""

    key: str  # the pairing key (basename or stem)
    path: str
    sha256: str
    sample_rate: int
    channels: int
    wave: Wave
    preset: Preset
    _resampled: dict[int, Wave] = field(default_factory=dict, repr=False)

    @property
    def duration_s(self) -> float:
        return float(self.wave.shape[0] / self.sample_rate)

    def at(self, rate: int) -> Wave:
        """The waveform at ``rate`` (not padded)."""
        if rate == self.sample_rate:
            return self.wave
        if rate not in self._resampled:
            if self.preset.resampler == "sinc_hann":
                self._resampled[rate] = sinc_hann_resample(self.wave, self.sample_rate, rate)
            else:
                import numpy as np
                import soxr

                self._resampled[rate] = np.asarray(soxr.resample(self.wave, self.sample_rate, rate, "VHQ"), np.float32)
        return self._resampled[rate]


@dataclass
class FileFeatures:
    """What the metrics need of one file's embeddings (only the parts its benchmark's metrics use)."""

    key: str
    path: str
    sha256: str
    duration_s: float
    embedding: npt.NDArray[np.float64] | None = None  # CNN14 "2048"
    logits: npt.NDArray[np.float64] | None = None  # CNN14 527 AudioSet logits
    vggish: npt.NDArray[np.float64] | None = None  # VGGish frames x 128


def read_clip(path: Path, key: str, preset: Preset) -> Clip:
    """Read, decode and check one file; :class:`SampleError` says what is wrong with it."""
    import numpy as np

    from pytest_audiollm.audio import decode_frames, read_audio_file

    try:
        data = read_audio_file(str(path))
    except SampleError as exc:
        raise SampleError(f"{path}: cannot read the file ({exc})") from exc
    if not data:
        raise SampleError(f"{path}: the file is empty (0 bytes): regenerate it")
    frames, rate = decode_frames(data, str(path))
    wave = frames[:, 0] if preset.first_channel or frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float32)
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if float(np.max(np.abs(wave))) < SILENCE_PEAK:
        raise SampleError(
            f"{path}: the audio is silent (peak below {SILENCE_PEAK:g}); silent generations would distort every "
            "distance, so it is left out of the distributions"
        )
    if preset.remove_dc:
        wave = (wave - wave.mean(dtype=np.float32)).astype(np.float32)
    return Clip(key, str(path), hashlib.sha256(data).hexdigest(), rate, int(frames.shape[1]), wave, preset)


@lru_cache(maxsize=16)
def _sinc_hann_kernel(orig: int, new: int, width_factor: int = 6, rolloff: float = 0.99) -> tuple[object, int]:
    """torchaudio's ``_get_sinc_resample_kernel`` for (orig, new) already divided by their gcd (float64)."""
    import numpy as np

    base = min(orig, new) * rolloff
    width = math.ceil(width_factor * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx) * base
    t = np.clip(t, -width_factor, width_factor)
    window = np.cos(t * math.pi / width_factor / 2) ** 2
    t = t * math.pi
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    return kernel * window * (base / orig), width


def sinc_hann_resample(wave: Wave, orig_rate: int, new_rate: int) -> Wave:
    """Resample as ``torchaudio.functional.resample(wave, orig_rate, new_rate)`` with its defaults.

    Windowed-sinc polyphase filter: Hann window, ``lowpass_filter_width=6``, ``rolloff=0.99``; the input is
    zero-padded by the filter width on the left and width + orig on the right, and the output has
    ``ceil(new * len / orig)`` samples. Computed in float64 and returned as float32 (torchaudio computes in the
    input's dtype, so values agree to float32 rounding).
    """
    import numpy as np

    if orig_rate == new_rate:
        return wave
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    kernel_obj, width = _sinc_hann_kernel(orig, new)
    kernel = np.asarray(kernel_obj)
    x = np.pad(wave.astype(np.float64), (width, width + orig))
    frames = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[1])[::orig]
    out = (frames @ kernel.T).reshape(-1)
    length = math.ceil(new * wave.shape[0] / orig)
    return np.ascontiguousarray(out[:length], dtype=np.float32)
