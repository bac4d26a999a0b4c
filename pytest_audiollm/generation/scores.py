"""Generation metric values: per pair (in the items) and per run (in the gates).

Paired metrics (PSNR, SSIM, LSD, KL, KL-sigmoid) are computed for each generated file and its reference partner
when the item runs, then averaged over pairs by the gate, as audioldm_eval averages over its paired loader (PSNR
skips pairs whose mels are identical: infinite PSNR). Distribution metrics (FAD, FD, KID, KAD, ISc, CLAP score)
are computed by the gate over every generated file of the run that passed its checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from pytest_audiollm.generation.frontend import Clip
    from pytest_audiollm.generation.run import FileFeatures, GenerationRun

__all__ = ["GateValue", "distribution_metric", "outlier_scores", "pair_scores"]


def pair_scores(
    metrics: tuple[str, ...], gen: Clip, ref: Clip, gen_f: FileFeatures, ref_f: FileFeatures | None, rate: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Paired metric values of one (generated, reference) pair, and notes for the ones left out."""
    import numpy as np

    from pytest_audiollm.generation.classifier import kl_divergence
    from pytest_audiollm.generation.paired import lsd, psnr, ssim
    from pytest_audiollm.generation.spectra import lsd_spectrogram, tacotron_mel

    scores: dict[str, float] = {}
    notes: dict[str, str] = {}
    if "psnr" in metrics or "ssim" in metrics:
        mel_g = tacotron_mel(gen.at(rate), rate)
        mel_r = tacotron_mel(ref.at(rate), rate)
        frames = min(mel_g.shape[1], mel_r.shape[1])
        mel_g, mel_r = mel_g[:, :frames], mel_r[:, :frames]
        if "psnr" in metrics:
            value = psnr(mel_r, mel_g)
            if math.isinf(value):
                notes["psnr"] = "identical mel spectrograms (infinite PSNR): left out of the mean, as audioldm_eval"
            else:
                scores["psnr"] = value
        if "ssim" in metrics:
            data_range = float(max(mel_g.max(), mel_r.max()) - min(mel_g.min(), mel_r.min()))
            scores["ssim"] = ssim(mel_r, mel_g, data_range=data_range) if data_range > 0 else 1.0
    if "lsd" in metrics:
        g = gen.at(rate).astype(np.float64)[gen.preset.lsd_offset :]
        r = ref.at(rate).astype(np.float64)
        g, r = g - g.mean(), r - r.mean()
        peak_g, peak_r = float(np.max(np.abs(g), initial=0.0)), float(np.max(np.abs(r), initial=0.0))
        if peak_g == 0.0 or peak_r == 0.0:
            notes["lsd"] = "nothing left after the LSD offset and DC removal"
        else:
            n = min(g.shape[0], r.shape[0])
            scores["lsd"] = lsd(lsd_spectrogram(r[:n] / peak_r, rate), lsd_spectrogram(g[:n] / peak_g, rate))
    for name, kind in (("kl", "softmax"), ("kl_sigmoid", "sigmoid")):
        if name not in metrics:
            continue
        if gen_f.logits is None or ref_f is None or ref_f.logits is None:
            notes[name] = "no CNN14 logits (checkpoint missing)"
            continue
        scores[name] = kl_divergence(ref_f.logits[None, :], gen_f.logits[None, :], kind=kind)  # type: ignore[arg-type]
    return scores, notes


@dataclass
class GateValue:
    """A generation gate's value with what it was computed from."""

    value: float
    n_generated: int
    n_reference: int
    std: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _matrix(rows: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    import numpy as np

    return np.stack(rows).astype(np.float64)


def distribution_metric(metric: str, run: GenerationRun, gen: list[FileFeatures], ref: list[FileFeatures]) -> GateValue:
    """FAD, FD, KID, KAD or ISc of a run (``gen`` in file order, ``ref`` the usable reference files)."""
    import numpy as np

    from pytest_audiollm.generation.classifier import inception_score
    from pytest_audiollm.generation.frechet import frechet_distance_from_embeddings
    from pytest_audiollm.generation.kernel import kernel_audio_distance, kernel_inception_distance

    settings = run.settings
    if metric == "isc":
        logits = _matrix([f.logits for f in gen if f.logits is not None])
        if logits.shape[0] < settings.isc_splits:
            raise TooFew(
                f"ISc needs at least isc_splits = {settings.isc_splits} generated files, got {logits.shape[0]}"
            )
        isc = inception_score(logits, splits=settings.isc_splits, seed=settings.seed)
        return GateValue(isc.mean, isc.n, 0, std=isc.std, details={"split_scores": list(isc.split_scores)})
    if metric == "fad":
        x = np.concatenate([f.vggish for f in gen if f.vggish is not None])
        y = np.concatenate([f.vggish for f in ref if f.vggish is not None])
        unit = "VGGish frames (0.96 s each, pooled over files)"
    else:
        x = _matrix([f.embedding for f in gen if f.embedding is not None])
        y = _matrix([f.embedding for f in ref if f.embedding is not None])
        unit = "CNN14 clip embeddings"
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise TooFew(f"{metric} needs at least 2 {unit} on each side, got {x.shape[0]} and {y.shape[0]}")
    warnings: list[str] = []
    if metric in ("fd", "fad"):
        result = frechet_distance_from_embeddings(x, y)
        if result.small_sample:
            warnings.append(
                f"{metric.upper()} on N = {result.n1} generated and {result.n2} reference {unit} in {result.dim} "
                f"dimensions: with N <= d the covariances are rank-deficient and the value carries a large "
                f"small-sample bias (about 1/N); compare only runs with the same N, or use kid/kad"
            )
        details = {"method": result.method, "dim": result.dim, "unit": unit, "rows": [result.n1, result.n2]}
        files = (sum(f.vggish is not None for f in gen), sum(f.vggish is not None for f in ref))
        n1, n2 = files if metric == "fad" else (result.n1, result.n2)  # n counts files; FAD's rows are frames
        return GateValue(result.distance, n1, n2, details=details, warnings=warnings)
    if metric == "kid":
        kid = kernel_inception_distance(x, y, subsets=settings.kid_subsets, subset_size=settings.kid_subset_size,
                                        seed=settings.seed)  # fmt: skip
        if kid.message:
            warnings.append(kid.message)
        details = {"subsets": kid.subsets, "subset_size": kid.subset_size}
        return GateValue(kid.mean, kid.n1, kid.n2, std=kid.std, details=details, warnings=warnings)
    kad = kernel_audio_distance(x, y)
    return GateValue(kad.value, kad.n1, kad.n2, details={"bandwidth": kad.bandwidth, "mmd2": kad.mmd2})


class TooFew(Exception):
    """The set is too small for the metric: the gate is skipped with the numbers."""


def outlier_scores(gen: list[FileFeatures], ref: list[FileFeatures], backbone: str) -> dict[str, float]:
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
