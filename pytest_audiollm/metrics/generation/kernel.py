"""Kernel distances between embedding sets: KID (polynomial-kernel MMD^2 over subsets) and KAD (Gaussian MMD^2).

* :func:`kernel_inception_distance` -- KID as ``audioldm-eval==0.0.3`` ``metrics/kid.py`` computes it: unbiased
  polynomial-kernel MMD^2 averaged over random subsets, with its exact ``np.random.RandomState(seed)`` sampling.
* :func:`kernel_audio_distance` -- KAD (kadtk): unbiased Gaussian-kernel MMD^2 with a median-heuristic
  bandwidth, scaled by 100.

Both are verified in ``tests/test_generation_distances.py`` (KID against audioldm_eval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.generation.checks import embedding_pair

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]

__all__ = ["KADResult", "KIDResult", "kernel_audio_distance", "kernel_inception_distance"]


@dataclass(frozen=True)
class KIDResult:
    """KID over random subsets: mean and population std (``np.std``) of the per-subset MMD^2."""

    mean: float
    std: float
    subsets: int
    subset_size: int
    n1: int
    n2: int
    values: tuple[float, ...] = field(repr=False, default=())
    message: str | None = None


def _polynomial_mmd2_unbiased(f1: Array, f2: Array, degree: int, gamma: float, coef0: float) -> float:
    import numpy as np

    k_xx = (f1 @ f1.T * gamma + coef0) ** degree
    k_yy = (f2 @ f2.T * gamma + coef0) ** degree
    k_xy = (f1 @ f2.T * gamma + coef0) ** degree
    m = k_xx.shape[0]
    kt_xx = k_xx.sum() - np.trace(k_xx)
    kt_yy = k_yy.sum() - np.trace(k_yy)
    return float((kt_xx + kt_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    x: ArrayLike,
    y: ArrayLike,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 2020,
) -> KIDResult:
    """Kernel Inception Distance as in audioldm-eval 0.0.3 ``calculate_kid`` (defaults = its settings).

    Kernel ``k(a, b) = (gamma * a.b + coef0) ** degree`` with ``gamma = 1/d`` when None. For each of
    ``subsets`` rounds, with one ``np.random.RandomState(seed)`` shared across rounds, it draws
    ``x[rng.choice(n1, m, replace=False)]`` then ``y[rng.choice(n2, m, replace=False)]`` and computes
    the unbiased MMD^2 ``(sum_{i!=j} Kxx + sum_{i!=j} Kyy)/(m(m-1)) - 2 sum Kxy / m^2``. Returns the mean
    and ``np.std`` (ddof=0). If ``subset_size`` exceeds either set it is clamped to the smaller N (as
    audioldm_eval does; then every subset is a permutation of the whole set, std ~ 0) and ``message``
    says so. Difference: arithmetic is float64 here; audioldm_eval works in the embeddings' dtype
    (float32 for CNN14 features), so agreement with it on float32 embeddings is only ~1e-4 relative.
    """
    import numpy as np

    xa, ya = embedding_pair(x, y)
    n1, d = xa.shape
    n2 = ya.shape[0]
    if subsets < 1:
        raise ValueError("subsets must be >= 1")
    message = None
    m = subset_size
    if m > min(n1, n2):
        m = min(n1, n2)
        message = (
            f"subset_size {subset_size} > min(N1={n1}, N2={n2}); clamped to {m} (every subset is the full "
            "set, so std is ~0 and the mean is a single MMD^2)"
        )
    if m < 2:
        raise ValueError("subset size must be >= 2")
    g = 1.0 / d if gamma is None else float(gamma)
    rng = np.random.RandomState(seed)
    vals = np.zeros(subsets)
    if m == n1 == n2:  # every subset is both whole sets (in another order): one MMD^2 is all of them
        vals[:] = _polynomial_mmd2_unbiased(xa, ya, degree, g, coef0)
    for i in range(subsets if m < max(n1, n2) else 0):
        f1 = xa[rng.choice(n1, m, replace=False)]
        f2 = ya[rng.choice(n2, m, replace=False)]
        vals[i] = _polynomial_mmd2_unbiased(f1, f2, degree, g, coef0)
    return KIDResult(
        mean=float(np.mean(vals)),
        std=float(np.std(vals)),
        subsets=subsets,
        subset_size=m,
        n1=n1,
        n2=n2,
        values=tuple(float(v) for v in vals),
        message=message,
    )


@dataclass(frozen=True)
class KADResult:
    """Kernel Audio Distance: ``value = scale * mmd2`` (kadtk reports ``100 * MMD^2``)."""

    value: float
    mmd2: float
    bandwidth: float
    n1: int
    n2: int


def _sq_dists(a: Array, b: Array) -> Array:
    import numpy as np

    d2: Array = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def kernel_audio_distance(
    x: ArrayLike,
    y: ArrayLike,
    *,
    bandwidth: float | None = None,
    scale: float = 100.0,
) -> KADResult:
    """Kernel Audio Distance (kadtk, arXiv 2502.15602): unbiased MMD^2 with a Gaussian kernel.

    ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2 + 1e-8))`` (kadtk's kernel, its ``eps=1e-8`` included)::

        MMD^2 = sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1)) - 2 sum_{i,j} k(x_i,y_j)/(mn)

    returned as ``value = scale * MMD^2`` (kadtk's ``SCALE_FACTOR = 100``); unbiased, so it can be
    slightly negative. Bandwidth: ``sigma = median`` of the Euclidean distances over all pairs
    ``i < j`` of ``y`` (the second argument, as kadtk's code ``median_pairwise_distance(y)``; its README
    says the reference set: pass the reference set as ``y``). We use the conventional median (mean of
    the two middle values for an even count); torch's ``median`` would take the lower one. float64 here
    (kadtk: float32 by default).
    """
    import numpy as np

    xa, ya = embedding_pair(x, y)
    m = xa.shape[0]
    n = ya.shape[0]
    if m < 2 or n < 2:
        raise ValueError("need at least 2 embeddings in each set")
    d_yy = _sq_dists(ya, ya)
    if bandwidth is None:
        iu = np.triu_indices(n, k=1)
        sigma = float(np.median(np.sqrt(d_yy[iu])))
    else:
        sigma = float(bandwidth)
    if not sigma > 0:
        raise ValueError(f"bandwidth must be > 0 (got {sigma}); are all embeddings identical?")
    denom = 2.0 * sigma * sigma + 1e-8
    k_xx = np.exp(-_sq_dists(xa, xa) / denom)
    k_yy = np.exp(-d_yy / denom)
    k_xy = np.exp(-_sq_dists(xa, ya) / denom)
    mmd2 = (
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.sum() / (m * n)
    )
    return KADResult(value=float(scale * mmd2), mmd2=float(mmd2), bandwidth=sigma, n1=m, n2=n)
