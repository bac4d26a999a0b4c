"""The built-in generation metrics: FAD, FD, KID, KAD, ISc (distributions); PSNR, SSIM, LSD, KL, CLAP score (files).

Paired metrics (PSNR, SSIM, LSD, KL, KL-sigmoid) are computed for each generated file and its reference partner
when the item runs, then averaged over pairs, as audioldm_eval averages over its paired loader. A pair whose mels
are identical has an infinite PSNR and is left out of PSNR in both presets; audioldm_eval's loop ``continue``s
past it before computing SSIM, so the ``audioldm_eval-0.0.3`` preset leaves it out of SSIM too, while ``clean``
scores its SSIM 1.0 (what SSIM is for identical images). Distribution metrics are computed by the gate over every
generated file of the run that passed its checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_audiollm.metrics.generation.protocol import (
    DistanceSettings,
    DistanceValue,
    DistributionMetric,
    FileMetric,
    NotScorable,
    ScoredFile,
    TooFew,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.features.frontend import FileFeatures

__all__ = ["BUILTIN_GENERATION_METRICS", "outlier_scores"]

VERSION = "1"


# -------------------------------------------------------------------------------------------- per file


_IDENTICAL = "identical mel spectrograms (infinite PSNR)"


def _mels(file: ScoredFile) -> tuple[Any, Any]:
    """The [0, 1]-scaled tacotron mels of the file and its partner, cropped to the shorter (PSNR and SSIM)."""
    from pytest_audiollm.features.spectra import tacotron_mel

    assert file.reference is not None
    mel_g = tacotron_mel(file.clip.at(file.rate), file.rate)
    mel_r = tacotron_mel(file.reference.at(file.rate), file.rate)
    frames = min(mel_g.shape[1], mel_r.shape[1])
    return mel_g[:, :frames], mel_r[:, :frames]


class Psnr(FileMetric):
    name = "psnr"
    higher_is_better = True
    paired: ClassVar[bool] = True
    description = "PSNR of [0,1]-scaled 64-band log-mel spectrograms"
    reference = "skimage.metrics.peak_signal_noise_ratio as audioldm_eval 0.0.3 calls it"

    def file_score(self, file: ScoredFile) -> float:
        from pytest_audiollm.metrics.generation.paired import psnr

        mel_g, mel_r = file.shared("mels", lambda: _mels(file))
        value = psnr(mel_r, mel_g)
        if math.isinf(value):
            raise NotScorable(f"{_IDENTICAL}: left out of the mean, as audioldm_eval")
        return value


class Ssim(FileMetric):
    """Version 2: in the ``audioldm_eval-0.0.3`` preset a pair whose mel spectrograms are identical is left out of
    the mean, as audioldm_eval 0.0.3 does (its loop skips the pair's SSIM when the PSNR is infinite; version 1
    scored it 1.0). In ``clean`` such a pair scores 1.0 and counts in the mean (PSNR leaves it out in both
    presets). When every pair is identical, the ``audioldm_eval-0.0.3`` gate is skipped with that reason (n/a, as
    PSNR's in both presets) where audioldm_eval returns ``np.mean([])``, NaN; ``clean`` gives 1.0.
    """

    name = "ssim"
    version = "2"
    higher_is_better = True
    paired: ClassVar[bool] = True
    description = "SSIM of [0,1]-scaled 64-band log-mel spectrograms"
    reference = "skimage.metrics.structural_similarity as audioldm_eval 0.0.3 calls it"

    def file_score(self, file: ScoredFile) -> float:
        import numpy as np

        from pytest_audiollm.metrics.generation.paired import ssim

        mel_g, mel_r = file.shared("mels", lambda: _mels(file))
        if file.clip.preset.ssim_skips_identical and np.array_equal(mel_g, mel_r):
            raise NotScorable(f"{_IDENTICAL}: left out of the SSIM mean too, as audioldm_eval 0.0.3")
        data_range = float(max(mel_g.max(), mel_r.max()) - min(mel_g.min(), mel_r.min()))
        return ssim(mel_r, mel_g, data_range=data_range) if data_range > 0 else 1.0  # 0: identical constants


class Lsd(FileMetric):
    name = "lsd"
    higher_is_better = False
    paired: ClassVar[bool] = True
    description = "log-spectral distance of STFT magnitudes (ssr_eval)"
    reference = "ssr_eval AudioMetrics as audioldm_eval 0.0.3 calls it"

    def file_score(self, file: ScoredFile) -> float:
        import numpy as np

        from pytest_audiollm.features.spectra import lsd_spectrogram
        from pytest_audiollm.metrics.generation.paired import lsd

        assert file.reference is not None
        rate = file.rate
        g = file.clip.at(rate).astype(np.float64)[file.clip.preset.lsd_offset :]
        r = file.reference.at(rate).astype(np.float64)
        g, r = g - g.mean(), r - r.mean()
        peak_g, peak_r = float(np.max(np.abs(g), initial=0.0)), float(np.max(np.abs(r), initial=0.0))
        if peak_g == 0.0 or peak_r == 0.0:
            raise NotScorable("nothing left after the LSD offset and DC removal")
        n = min(g.shape[0], r.shape[0])
        return lsd(lsd_spectrogram(r[:n] / peak_r, rate), lsd_spectrogram(g[:n] / peak_g, rate))


class Kl(FileMetric):
    name = "kl"
    higher_is_better = False
    paired: ClassVar[bool] = True
    backbone: ClassVar[str | None] = "cnn14"
    description = "paired KL(reference || generated) of CNN14 softmax"
    reference = "audioldm_eval 0.0.3 calculate_kl"
    activation = "softmax"

    def file_score(self, file: ScoredFile) -> float:
        from pytest_audiollm.metrics.generation.classifier import kl_divergence

        gen, ref = file.features, file.reference_features
        if gen.logits is None or ref is None or ref.logits is None:
            raise NotScorable("no CNN14 logits (checkpoint missing)")
        return kl_divergence(ref.logits[None, :], gen.logits[None, :], kind=self.activation)  # type: ignore[arg-type]


class KlSigmoid(Kl):
    name = "kl_sigmoid"
    description = "paired audioldm_eval KL of CNN14 sigmoid outputs"
    reference = "audioldm_eval 0.0.3 calculate_kl"
    activation = "sigmoid"


class ClapScore(FileMetric):
    name = "clap_score"
    higher_is_better = True
    backbone: ClassVar[str | None] = "clap"
    description = "mean cosine of CLAP text and audio embeddings"
    reference = "transformers ClapModel text/audio embeddings (the CLAP score of Make-An-Audio and MAGNeT)"

    def file_score(self, file: ScoredFile) -> float:
        if not file.prompt:
            raise NotScorable("no text prompt for this file (folder mode: list prompts in data.prompts)")
        if file.clap is None:
            raise NotScorable("CLAP unavailable")
        scorer = file.clap()
        rate = 48000
        return float(scorer.score([file.prompt], [file.clip.at(rate)], rate)[0])


# ------------------------------------------------------------------------------------------ distributions


def _matrix(rows: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    import numpy as np

    return np.stack(rows).astype(np.float64)


class _EmbeddingDistance(DistributionMetric):
    backbone: ClassVar[str | None] = "cnn14"
    unit = "CNN14 clip embeddings"

    def _sets(self, gen: Sequence[FileFeatures], ref: Sequence[FileFeatures]) -> tuple[Any, Any]:
        x = _matrix([f.embedding for f in gen if f.embedding is not None])
        y = _matrix([f.embedding for f in ref if f.embedding is not None])
        if x.shape[0] < 2 or y.shape[0] < 2:
            raise TooFew(f"{self.name} needs at least 2 {self.unit} on each side, got {x.shape[0]} and {y.shape[0]}")
        return x, y


class Fd(_EmbeddingDistance):
    name = "fd"
    higher_is_better = False
    outliers: ClassVar[bool] = True
    description = "Frechet distance of PANNs CNN14 2048-d clip embeddings"
    reference = 'audioldm_eval 0.0.3 calculate_fid(..., "2048")'

    def _rows(self, gen: Sequence[FileFeatures], ref: Sequence[FileFeatures]) -> tuple[Any, Any, tuple[int, int]]:
        x, y = self._sets(gen, ref)
        return x, y, (x.shape[0], y.shape[0])

    def distance(
        self, generated: Sequence[FileFeatures], reference: Sequence[FileFeatures], settings: DistanceSettings
    ) -> DistanceValue:
        from pytest_audiollm.metrics.generation.frechet import frechet_distance_from_embeddings

        x, y, files = self._rows(generated, reference)
        result = frechet_distance_from_embeddings(x, y)
        warnings = []
        if result.small_sample:
            warnings.append(
                f"{self.name.upper()} on N = {result.n1} generated and {result.n2} reference {self.unit} in "
                f"{result.dim} dimensions: with N <= d the covariances are rank-deficient and the value carries a "
                f"large small-sample bias (about 1/N); compare only runs with the same N, or use kid/kad"
            )
        details = {"method": result.method, "dim": result.dim, "unit": self.unit, "rows": [result.n1, result.n2]}
        return DistanceValue(result.distance, files[0], files[1], details=details, warnings=warnings)


class Fad(Fd):
    name = "fad"
    backbone: ClassVar[str | None] = "vggish"
    description = "Frechet distance of VGGish 128-d frame embeddings"
    reference = "audioldm_eval 0.0.3 FrechetAudioDistance (torchvggish, no PCA, final ReLU removed)"
    unit = "VGGish frames (0.96 s each, pooled over files)"

    def _rows(self, gen: Sequence[FileFeatures], ref: Sequence[FileFeatures]) -> tuple[Any, Any, tuple[int, int]]:
        import numpy as np

        gen_frames = [f.vggish for f in gen if f.vggish is not None]
        ref_frames = [f.vggish for f in ref if f.vggish is not None]
        x = np.concatenate(gen_frames) if gen_frames else np.empty((0, 128))
        y = np.concatenate(ref_frames) if ref_frames else np.empty((0, 128))
        if x.shape[0] < 2 or y.shape[0] < 2:
            raise TooFew(f"fad needs at least 2 {self.unit} on each side, got {x.shape[0]} and {y.shape[0]}")
        return x, y, (len(gen_frames), len(ref_frames))  # n counts files; FAD's rows are frames


class Kid(_EmbeddingDistance):
    name = "kid"
    higher_is_better = False
    description = "kernel inception distance (cubic polynomial MMD) on CNN14"
    reference = "audioldm_eval 0.0.3 calculate_kid (100 x 1000, seed 2020)"

    def distance(
        self, generated: Sequence[FileFeatures], reference: Sequence[FileFeatures], settings: DistanceSettings
    ) -> DistanceValue:
        from pytest_audiollm.metrics.generation.kernel import kernel_inception_distance

        x, y = self._sets(generated, reference)
        kid = kernel_inception_distance(
            x, y, subsets=settings.kid_subsets, subset_size=settings.kid_subset_size, seed=settings.seed
        )
        details = {"subsets": kid.subsets, "subset_size": kid.subset_size}
        return DistanceValue(kid.mean, kid.n1, kid.n2, std=kid.std, details=details,
                             warnings=[kid.message] if kid.message else [])  # fmt: skip


class Kad(_EmbeddingDistance):
    """Bandwidth convention: the Gaussian kernel's bandwidth is the median pairwise Euclidean distance of the
    *reference* set (as kadtk's README says, and as its ``calc_kernel_audio_distance(x, y)`` does with the reference
    as ``y``), the conventional median (the mean of the two middle values), in float64. kadtk's own scorer
    (``KernelAudioDistance.score(baseline, eval)``) passes the *evaluated* (generated) set as ``y``, so its
    bandwidth comes from the generated files, with torch's lower median, in float32: on the same embeddings its
    value can differ from ours by several percent (5.4 % in the check that found it). The bandwidth used is
    recorded in the results (``computation.bandwidth``); compare KAD values only between runs of this plugin.
    """

    name = "kad"
    higher_is_better = False
    description = "kernel audio distance (Gaussian-kernel MMD x 100) on CNN14"
    reference = (
        "kadtk (arXiv 2502.15602) calc_kernel_audio_distance(generated, reference): bandwidth from the reference set "
        "(kadtk's score() takes it from the generated set, see below)"
    )

    def distance(
        self, generated: Sequence[FileFeatures], reference: Sequence[FileFeatures], settings: DistanceSettings
    ) -> DistanceValue:
        from pytest_audiollm.metrics.generation.kernel import kernel_audio_distance

        x, y = self._sets(generated, reference)
        kad = kernel_audio_distance(x, y)
        return DistanceValue(kad.value, kad.n1, kad.n2, details={"bandwidth": kad.bandwidth, "mmd2": kad.mmd2})


class Isc(DistributionMetric):
    """``std`` convention: the population standard deviation (``np.std``, ddof 0) of the ``isc_splits`` split
    scores, as audioldm_eval 0.0.3 (and the original Inception Score code) computes it; torchmetrics'
    ``InceptionScore`` returns ``torch.std`` (ddof 1), larger by ``sqrt(splits / (splits - 1))`` (5.4 % with 10
    splits). The mean is the same.
    """

    name = "isc"
    higher_is_better = True
    backbone: ClassVar[str | None] = "cnn14"
    description = "inception score of CNN14's 527 AudioSet logits"
    reference = "audioldm_eval 0.0.3 calculate_isc (10 splits, seed 2020)"

    def distance(
        self, generated: Sequence[FileFeatures], reference: Sequence[FileFeatures], settings: DistanceSettings
    ) -> DistanceValue:
        from pytest_audiollm.metrics.generation.classifier import inception_score

        rows = [f.logits for f in generated if f.logits is not None]
        if len(rows) < settings.isc_splits:
            raise TooFew(f"ISc needs at least isc_splits = {settings.isc_splits} generated files, got {len(rows)}")
        isc = inception_score(_matrix(rows), splits=settings.isc_splits, seed=settings.seed)
        return DistanceValue(isc.mean, isc.n, 0, std=isc.std, details={"split_scores": list(isc.split_scores)})


def outlier_scores(gen: Sequence[FileFeatures], ref: Sequence[FileFeatures], backbone: str) -> dict[str, float]:
    """How far each generated file lies from the reference distribution, in units of the references' own spread.

    Per file: the Euclidean distance of its embedding (CNN14 clip embedding; VGGish: the mean of its frames) from
    the reference mean, divided by the median distance of the reference files from that mean. 1 is a typical
    reference file; the largest scores are the generations least like the references.
    """
    import numpy as np

    def vector(f: FileFeatures) -> npt.NDArray[np.float64] | None:
        if backbone == "vggish":
            return None if f.vggish is None else f.vggish.mean(axis=0)
        return f.embedding

    ref_vectors = [v for f in ref if (v := vector(f)) is not None]
    if len(ref_vectors) < 2:
        return {}
    refs = np.stack(ref_vectors)
    centre = refs.mean(axis=0)
    scale = float(np.median(np.linalg.norm(refs - centre, axis=1))) or 1.0
    out: dict[str, float] = {}
    for f in gen:
        v = vector(f)
        if v is not None:
            out[f.key] = round(float(np.linalg.norm(v - centre)) / scale, 6)
    return out


BUILTIN_GENERATION_METRICS: tuple[type[FileMetric | DistributionMetric], ...] = (
    Fad, Fd, Kid, Kad, Isc, Kl, KlSigmoid, Psnr, Ssim, Lsd, ClapScore,
)  # fmt: skip
