"""CLAP score of generated audio: how well each clip matches the text it was generated from.

For pairs ``(text_i, audio_i)``, :meth:`ClapScorer.score` returns ``cos(t_i, a_i)``, the cosine similarity of the
L2-normalised CLAP text embedding (``ClapModel.get_text_features(...).pooler_output``) and audio embedding
(``get_audio_features(...).pooler_output``), in float64; the **CLAP score** of a system is the mean over its
pairs, ``np.mean(scorer.score(texts, waveforms, rate))``, in [-1, 1] (higher: closer to the prompts).

That is the definition of Make-An-Audio (Huang et al., 2023, arXiv:2301.12661,
``wav_evaluation/cal_clap_score.py``) and MAGNeT (Ziv et al., 2024, arXiv:2401.04577), as implemented by
``frechet_audio_distance.CLAPScore`` (gudgud96/frechet-audio-distance; default LAION ``630k-audioset-best.pt``)
and Stability AI's ``stable-audio-metrics`` (``src/clap_score.py``; default LAION ``630k-audioset-fusion-best.pt``,
after peak-normalising each clip to -1 dBFS). Unlike CLIPScore (Hessel et al., 2021) it is neither clipped at 0
nor rescaled. Scores are only comparable for the same CLAP checkpoint and preprocessing: report the checkpoint
(:meth:`ClapScorer.fingerprint`) next to the number.

Audio is resampled to 48 kHz with soxr; clips longer than the checkpoint's window (10 s) are embedded window by
window and averaged instead of cropped at random (see :mod:`pytest_audiollm.models.adapters.clap`). Texts are cut at 77
tokens, as laion_clap does. Needs the ``hf`` extra (torch, transformers); imported only when loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.models.adapters.clap import ClapEncoder

__all__ = ["ClapScorer"]

_NEEDED_FOR = "the CLAP score"


class ClapScorer:
    """Text-audio cosine similarity with a transformers CLAP checkpoint (a local directory or a hub repo id).

    ``load()`` before scoring, ``unload()`` to free the weights. ``batch_size`` bounds the texts or 10 s audio
    windows embedded per forward pass.
    """

    def __init__(
        self, checkpoint: str | Path, device: str = "cpu", *, revision: str | None = None, batch_size: int = 16
    ) -> None:
        target = str(Path(checkpoint).expanduser()) if isinstance(checkpoint, Path) else str(checkpoint)
        self._must_be_local = isinstance(checkpoint, Path)  # a Path is never a hub repo id
        self.device = device
        from pytest_audiollm.models.adapters.clap import ClapEncoder

        self._encoder: ClapEncoder = ClapEncoder(target, revision, needed_for=_NEEDED_FOR, batch_size=batch_size)

    @property
    def checkpoint(self) -> str:
        """The checkpoint directory or hub repo id."""
        return self._encoder.target

    @property
    def sample_rate(self) -> int:
        """The rate CLAP embeds at (48 kHz; the checkpoint's feature extractor's once loaded)."""
        return self._encoder.sample_rate

    @property
    def loaded(self) -> bool:
        return self._encoder.model is not None

    def load(self) -> None:
        """Load the processor and the model (float32) on ``device``.

        Raises :class:`~pytest_audiollm.errors.AudioLLMError` when the checkpoint is neither a directory nor a
        loadable hub repo id, :class:`~pytest_audiollm.errors.MissingDependency` without torch/transformers.
        """
        target = self._encoder.target
        if self._must_be_local and not Path(target).is_dir():
            raise AudioLLMError(
                f"CLAP score: the checkpoint directory '{target}' does not exist. Pass a directory written by "
                "ClapModel.save_pretrained and ClapProcessor.save_pretrained (config.json, model.safetensors, "
                "tokenizer and preprocessor files), or a hub repo id such as laion/clap-htsat-unfused (as a string)."
            )
        self._encoder.load(self.device)

    def unload(self) -> None:
        self._encoder.unload()

    def text_embeddings(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """L2-normalised CLAP text embeddings, ``(len(texts), dim)`` float64."""
        return _as_float64(self._loaded().text_embeddings(list(texts)))

    def audio_embeddings(self, waveforms: Sequence[npt.NDArray[Any]], sample_rate: int) -> npt.NDArray[np.float64]:
        """L2-normalised CLAP audio embeddings of mono waveforms at ``sample_rate``, ``(n, dim)`` float64."""
        return _as_float64(self._loaded().audio_embeddings(list(waveforms), sample_rate))

    def score(
        self, texts: Sequence[str], waveforms: Sequence[npt.NDArray[Any]], sample_rate: int
    ) -> npt.NDArray[np.float64]:
        """``cos(text_i, audio_i)`` per pair, float64 in [-1, 1]; the CLAP score is their mean."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        if len(texts) != len(waveforms):
            raise ValueError(f"texts and waveforms must pair up: got {len(texts)} texts and {len(waveforms)} waveforms")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        import numpy as np

        if not texts:
            return np.zeros(0, dtype=np.float64)
        text = self.text_embeddings(texts)
        audio = self.audio_embeddings(waveforms, sample_rate)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        audio /= np.linalg.norm(audio, axis=1, keepdims=True)
        cosine: npt.NDArray[np.float64] = np.clip(np.einsum("ij,ij->i", text, audio), -1.0, 1.0)
        return cosine

    def fingerprint(self) -> str:
        """``clap:`` + the checkpoint's content fingerprint (config, weight headers and samples, revision)."""
        return f"clap:{self._encoder.checkpoint.fingerprint()}"

    def _loaded(self) -> ClapEncoder:
        if not self.loaded:
            raise AudioLLMError("CLAP score: call ClapScorer.load() before computing embeddings or scores")
        return self._encoder


def _as_float64(tensor: Any) -> npt.NDArray[np.float64]:
    import numpy as np

    return np.asarray(tensor.detach().cpu().double().numpy(), dtype=np.float64)
