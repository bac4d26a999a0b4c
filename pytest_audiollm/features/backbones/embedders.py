"""Clip-level wrappers that turn lists of waveforms into float64 embeddings with a backbone.

An :class:`Embedder` is what the generation metrics consume: ``embed(waveforms)`` returns one 2-D array
per input clip (CNN14: one ``[1, 2048]`` row per clip plus ``[1, 527]`` logits; VGGish: ``[frames, 128]``,
one row per 0.96 s example). Inputs are mono float waveforms in [-1, 1] already at the embedder's
``sample_rate``. Models run in float32 under ``torch.inference_mode``; outputs are float64 NumPy arrays.
``torch.set_num_threads`` is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

from pytest_audiollm.errors import SampleError
from pytest_audiollm.features.backbones.cnn14 import Cnn14, build_cnn14
from pytest_audiollm.features.backbones.vggish import VGGish, build_vggish, vggish_examples

if TYPE_CHECKING:
    Array = NDArray[np.float64]

__all__ = ["Cnn14Embedder", "EmbedOutput", "Embedder", "VGGishEmbedder"]


@dataclass(frozen=True)
class EmbedOutput:
    """Per-clip outputs, in input order. ``logits`` is None for backbones without a classifier head."""

    embeddings: list[Array]
    logits: list[Array] | None = None


@runtime_checkable
class Embedder(Protocol):
    """A backbone that embeds mono waveforms at ``sample_rate`` into ``dim``-dimensional rows."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def embed(self, waveforms: Sequence[NDArray[Any]]) -> EmbedOutput: ...


def _as_mono(waveforms: Sequence[NDArray[Any]], name: str, dtype: type[np.floating[Any]]) -> list[NDArray[Any]]:
    clips = []
    for i, waveform in enumerate(waveforms):
        clip = np.asarray(waveform, dtype=dtype)
        if clip.ndim != 1:
            raise SampleError(f"{name}: clip {i} has shape {clip.shape}; the embedder takes mono 1-D waveforms.")
        if not np.all(np.isfinite(clip)):
            raise SampleError(f"{name}: clip {i} contains NaN or infinite samples.")
        clips.append(clip)
    return clips


def _pad(clip: NDArray[Any], length: int) -> NDArray[Any]:
    if clip.shape[0] >= length:
        return clip
    return np.pad(clip, (0, length - clip.shape[0]))


class Cnn14Embedder:
    """CNN14 clip embeddings (``relu(fc1)``, 2048-d) and AudioSet logits (527), audioldm_eval-style.

    Clips shorter than ``pad_to_samples`` are right-padded with zeros (default 0: padding is the caller's
    front end's job; audioldm_eval pads to 32000 samples). A clip shorter than the network's minimum
    (``31 * hop`` samples, 0.31 s) raises :class:`~pytest_audiollm.errors.SampleError`. Clips of equal
    (padded) length are run as one batch of at most ``max_batch_frames`` STFT frames in total; others one
    group at a time, so no clip is ever padded to another clip's length.
    """

    def __init__(
        self,
        model: Cnn14,
        device: str | torch.device = "cpu",
        pad_to_samples: int = 0,
        max_batch_frames: int = 4000,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(device=self.device, dtype=torch.float32).eval()
        self.pad_to_samples = pad_to_samples
        self.max_batch_frames = max_batch_frames

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, Any],
        sample_rate: int,
        device: str | torch.device = "cpu",
        pad_to_samples: int = 0,
        max_batch_frames: int = 4000,
    ) -> Cnn14Embedder:
        """``build_cnn14(sample_rate).load_official(state_dict)`` wrapped; see :meth:`Cnn14.load_official`."""
        model = build_cnn14(sample_rate).load_official(state_dict)
        return cls(model, device=device, pad_to_samples=pad_to_samples, max_batch_frames=max_batch_frames)

    @property
    def name(self) -> str:
        return f"cnn14-{self.model.sample_rate // 1000}k"

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    @property
    def dim(self) -> int:
        return 2048

    def _batches(self, clips: list[NDArray[Any]]) -> Iterator[list[int]]:
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(clip.shape[0], []).append(i)
        for length, indices in by_length.items():
            per_batch = max(1, self.max_batch_frames // (1 + length // self.model.config.hop_size))
            for start in range(0, len(indices), per_batch):
                yield indices[start : start + per_batch]

    def embed(self, waveforms: Sequence[NDArray[Any]]) -> EmbedOutput:
        clips = [_pad(c, self.pad_to_samples) for c in _as_mono(waveforms, self.name, np.float32)]
        minimum = max(self.model.config.min_samples, self.model.config.window_size // 2 + 1)
        for i, clip in enumerate(clips):
            if clip.shape[0] < minimum:
                raise SampleError(
                    f"{self.name}: clip {i} has {clip.shape[0]} samples; CNN14 needs at least {minimum} "
                    f"({minimum / self.sample_rate:.2f} s at {self.sample_rate} Hz). Pad it or raise pad_to_samples."
                )
        embeddings: list[Array | None] = [None] * len(clips)
        logits: list[Array | None] = [None] * len(clips)
        with torch.inference_mode():
            for batch in self._batches(clips):
                x = torch.from_numpy(np.stack([clips[i] for i in batch])).to(self.device)
                out = self.model(x)
                emb = out["embedding"].cpu().numpy().astype(np.float64)
                log = out["logits"].cpu().numpy().astype(np.float64)
                for row, i in enumerate(batch):
                    embeddings[i] = emb[row : row + 1].copy()
                    logits[i] = log[row : row + 1].copy()
        done_embeddings = [e for e in embeddings if e is not None]
        done_logits = [g for g in logits if g is not None]
        assert len(done_embeddings) == len(done_logits) == len(clips)
        return EmbedOutput(embeddings=done_embeddings, logits=done_logits)


class VGGishEmbedder:
    """VGGish frame embeddings (128-d, one per non-overlapping 0.96 s example), audioldm_eval FAD-style.

    Clips shorter than ``pad_to_samples`` are right-padded with zeros (default 0: audioldm-eval 0.0.3's
    FAD does not pad, so a clip under ~0.975 s yields a ``[0, 128]`` array). Examples of all clips are run
    together in batches of ``batch_size``.
    """

    def __init__(
        self,
        model: VGGish,
        device: str | torch.device = "cpu",
        pad_to_samples: int = 0,
        batch_size: int = 64,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(device=self.device, dtype=torch.float32).eval()
        self.pad_to_samples = pad_to_samples
        self.batch_size = batch_size

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, Any],
        device: str | torch.device = "cpu",
        pad_to_samples: int = 0,
        batch_size: int = 64,
    ) -> VGGishEmbedder:
        """``build_vggish().load_official(state_dict)`` wrapped; see :meth:`VGGish.load_official`."""
        model = build_vggish().load_official(state_dict)
        return cls(model, device=device, pad_to_samples=pad_to_samples, batch_size=batch_size)

    @property
    def name(self) -> str:
        return "vggish"

    @property
    def sample_rate(self) -> int:
        return VGGish.sample_rate

    @property
    def dim(self) -> int:
        return VGGish.dim

    def embed(self, waveforms: Sequence[NDArray[Any]]) -> EmbedOutput:
        # the log-mel front end runs in float64 on the samples as given (like torchvggish)
        clips = [_pad(c, self.pad_to_samples) for c in _as_mono(waveforms, self.name, np.float64)]
        per_clip = [vggish_examples(clip, self.sample_rate) for clip in clips]
        counts = [e.shape[0] for e in per_clip]
        examples = np.concatenate(per_clip, axis=0).astype(np.float32) if per_clip else np.zeros((0, 96, 64))
        rows: list[NDArray[np.float64]] = []
        with torch.inference_mode():
            for start in range(0, examples.shape[0], self.batch_size):
                chunk = torch.from_numpy(examples[start : start + self.batch_size, None]).to(self.device)
                rows.append(self.model(chunk).cpu().numpy().astype(np.float64))
        flat = np.concatenate(rows, axis=0) if rows else np.zeros((0, self.dim), dtype=np.float64)
        bounds = np.cumsum([0, *counts])
        return EmbedOutput(embeddings=[flat[bounds[i] : bounds[i + 1]].copy() for i in range(len(counts))])
