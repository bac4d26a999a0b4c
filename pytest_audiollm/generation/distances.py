"""Distribution distances between sets of embeddings / classifier outputs (pure NumPy, float64).

Definitions follow ``audioldm-eval==0.0.3`` (``audioldm_eval/metrics/{fid,kid,isc,kl}.py``) unless
stated otherwise, and are verified against it in ``tests/test_generation_distances.py``:

* :func:`frechet_distance` / :func:`frechet_distance_from_embeddings` -- FD/FAD,
  ``|mu1-mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)``. audioldm_eval uses ``scipy.linalg.sqrtm(S1 @ S2)``
  (~10 s for d=2048 and fragile on singular products); we compute ``Tr sqrt(S1 S2)`` without forming a
  general matrix square root (see the functions' docstrings).
* :func:`kernel_inception_distance` -- KID, unbiased polynomial-kernel MMD^2 averaged over random
  subsets, with audioldm_eval's exact ``np.random.RandomState(seed)`` subset sampling.
* :func:`inception_score` -- ISc with audioldm_eval's seeded shuffle and split boundaries.
* :func:`kl_divergence` -- paired KL (softmax) and "KL_Sigmoid" exactly as audioldm_eval defines them.
* :func:`kernel_audio_distance` -- KAD (kadtk): unbiased Gaussian-kernel MMD^2 with a median-heuristic
  bandwidth, scaled by 100.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]


__all__ = [
    "FrechetResult",
    "InceptionScoreResult",
    "KADResult",
    "KIDResult",
    "frechet_distance",
    "frechet_distance_from_embeddings",
    "inception_score",
    "kernel_audio_distance",
    "kernel_inception_distance",
    "kl_divergence",
    "pair_by_basename",
]


def _embedding_pair(x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """Both embedding sets as finite float64 (samples x features) arrays of the same dimension."""
    xa, ya = _as_2d(x, "x"), _as_2d(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"embedding dimensions differ: {xa.shape[1]} vs {ya.shape[1]}")
    return xa, ya


def _as_2d(x: ArrayLike, name: str) -> Array:
    import numpy as np

    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


# --------------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrechetResult:
    """Fréchet distance between two embedding sets, with the sample sizes it was computed from.

    ``small_sample`` is True when either set has fewer samples than dimensions (N <= d): the covariance
    is then rank-deficient (rank <= N-1) and FD carries a large positive small-sample bias (roughly
    proportional to 1/N), so values are only comparable at equal N. ``message`` explains it.
    """

    distance: float
    n1: int
    n2: int
    dim: int
    method: str
    small_sample: bool
    message: str | None = None


def _trace_sqrt_product_sym(sigma1: Array, sigma2: Array) -> float:
    """``Tr sqrt(S1 S2)`` for symmetric PSD ``S1, S2`` via the symmetric route.

    ``S1 S2`` is similar to ``A = sqrt(S1) S2 sqrt(S1)``, which is symmetric PSD, so
    ``Tr sqrt(S1 S2) = sum_i sqrt(lambda_i(A))``. With ``S1 = U diag(w) U^T`` (``eigh``, tiny negative
    eigenvalues from round-off clipped to 0) we use ``B = diag(sqrt w) U^T`` and ``M = B S2 B^T``, which is
    orthogonally similar to ``A``; its eigenvalues come from ``eigvalsh`` (again clipped at 0).
    One ``eigh`` + one ``eigvalsh`` + two matrix products: ~5-10x faster than ``scipy.linalg.sqrtm``
    and well defined for singular covariances.
    """
    import numpy as np

    w, u = np.linalg.eigh(sigma1)
    w = np.clip(w, 0.0, None)
    b = u * np.sqrt(w)  # = U diag(sqrt w); M = b^T S2 b
    m = b.T @ sigma2 @ b
    m = (m + m.T) * 0.5
    ev = np.linalg.eigvalsh(m)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (float64).

    ``d^2 = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)``, with ``Tr sqrt(S1 S2)`` computed by the
    symmetric eigen route (see :func:`_trace_sqrt_product_sym`) instead of ``scipy.linalg.sqrtm``.
    Unlike audioldm_eval/pytorch-fid there is no ``1e-6 * I`` retry and no "imaginary component" error:
    the symmetric route never produces complex values.
    """
    import numpy as np

    m1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    m2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if m1.shape != m2.shape or m1.ndim != 1:
        raise ValueError(f"mean vectors have different/invalid shapes: {m1.shape} vs {m2.shape}")
    d = m1.shape[0]
    if s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"covariances must be {d}x{d}, got {s1.shape} and {s2.shape}")
    s1 = (s1 + s1.T) * 0.5
    s2 = (s2 + s2.T) * 0.5
    diff = m1 - m2
    tr_covmean = _trace_sqrt_product_sym(s1, s2)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance_from_embeddings(
    x: ArrayLike, y: ArrayLike, *, method: Literal["auto", "eigh", "gram"] = "auto"
) -> FrechetResult:
    """Fréchet distance between the Gaussians fitted to two embedding sets (rows = samples).

    Statistics as audioldm_eval: ``mu = mean(axis=0)``, ``sigma = np.cov(rowvar=False)`` (ddof=1), but
    always in float64 (audioldm_eval's means stay float32 for float32 embeddings).

    Routes for ``Tr sqrt(S1 S2)``:

    * ``"eigh"``: covariances + the symmetric eigen route (``O(d^3)``; ~1 s for d=2048).
    * ``"gram"``: with centred data ``Xc`` (n1 x d), ``Yc`` (n2 x d), ``S1 = Xc^T Xc/(n1-1)``,
      ``S2 = Yc^T Yc/(n2-1)``. The non-zero eigenvalues of ``S1 S2`` equal those of ``C C^T`` with
      ``C = Xc Yc^T`` (n1 x n2), so ``Tr sqrt(S1 S2) = ||C||_* / sqrt((n1-1)(n2-1))`` (nuclear norm =
      sum of singular values). Traces are ``||Xc||_F^2/(n1-1)``. Cost ``O(n1 n2 d + n1 n2 min(n1,n2))``,
      never forms a d x d matrix.
    * ``"auto"`` (default): ``"gram"`` when ``min(n1, n2) < d``, else ``"eigh"``.

    The result carries N of each set and flags the small-sample regime (N <= d).
    """
    import numpy as np

    xa, ya = _embedding_pair(x, y)
    n1, d = xa.shape
    n2 = ya.shape[0]
    if n1 < 2 or n2 < 2:
        raise ValueError("need at least 2 embeddings in each set")
    if method == "auto":
        method = "gram" if min(n1, n2) < d else "eigh"
    mu1 = xa.mean(axis=0)
    mu2 = ya.mean(axis=0)
    diff = mu1 - mu2
    if method == "eigh":
        s1 = np.cov(xa, rowvar=False)
        s2 = np.cov(ya, rowvar=False)
        dist = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_product_sym(s1, s2))
    elif method == "gram":
        xc = xa - mu1
        yc = ya - mu2
        tr1 = float(np.einsum("ij,ij->", xc, xc)) / (n1 - 1)
        tr2 = float(np.einsum("ij,ij->", yc, yc)) / (n2 - 1)
        c = xc @ yc.T
        sv = np.linalg.svd(c, compute_uv=False)
        tr_covmean = float(sv.sum()) / math.sqrt((n1 - 1) * (n2 - 1))
        dist = float(diff @ diff) + tr1 + tr2 - 2.0 * tr_covmean
    else:
        raise ValueError(f"unknown method {method!r}; use 'auto', 'eigh' or 'gram'")
    small = min(n1, n2) <= d
    message = None
    if small:
        message = (
            f"small sample: N1={n1}, N2={n2} <= d={d}; covariances are rank-deficient (rank <= N-1) and "
            "FD has a large small-sample bias (~1/N); compare FD only at equal N, or use KID/KAD"
        )
    return FrechetResult(distance=dist, n1=n1, n2=n2, dim=d, method=method, small_sample=small, message=message)


# --------------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------------


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

    xa, ya = _embedding_pair(x, y)
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
    for i in range(subsets):
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


# --------------------------------------------------------------------------------------------------
# Inception score
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InceptionScoreResult:
    """Inception score: mean and population std over splits, plus the per-split scores."""

    mean: float
    std: float
    split_scores: tuple[float, ...]
    n: int


def _log_softmax(z: Array) -> Array:
    import numpy as np

    zmax = z.max(axis=1, keepdims=True)
    s = z - zmax
    out: Array = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return out


def inception_score(
    scores: ArrayLike,
    *,
    from_logits: bool = True,
    splits: int = 10,
    shuffle: bool = True,
    seed: int = 2020,
) -> InceptionScoreResult:
    """Inception score as in audioldm-eval 0.0.3 ``calculate_isc`` (defaults = its settings).

    ``scores`` is N x C: logits (softmax over C, as audioldm_eval does with CNN14's 527 logits) or,
    with ``from_logits=False``, probabilities (rows summing to 1; ``log p`` taken directly).
    If ``shuffle``, rows are permuted by ``np.random.RandomState(seed).permutation(N)``. Split ``i``
    covers rows ``[i*N//splits, (i+1)*N//splits)``; its score is
    ``exp(mean_rows(sum_c p (log p - log mean_rows(p))))``. Returns mean and ``np.std`` (ddof=0).
    The result depends on row order; audioldm_eval feeds files in sorted order.
    """
    import numpy as np

    z = _as_2d(scores, "scores")
    n = z.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"need 1 <= splits <= N (splits={splits}, N={n})")
    if shuffle:
        z = z[np.random.RandomState(seed).permutation(n)]
    if from_logits:
        log_p = _log_softmax(z)
        p = np.exp(log_p)
    else:
        if np.any(z < 0):
            raise ValueError("probabilities must be non-negative")
        p = z
        with np.errstate(divide="ignore"):
            log_p = np.log(p)
    out: list[float] = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        pc = p[lo:hi]
        q = pc.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(pc > 0, pc * (log_p[lo:hi] - np.log(q)), 0.0)
        out.append(float(np.exp(terms.sum(axis=1).mean())))
    return InceptionScoreResult(mean=float(np.mean(out)), std=float(np.std(out)), split_scores=tuple(out), n=n)


# --------------------------------------------------------------------------------------------------
# KL (paired)
# --------------------------------------------------------------------------------------------------


def kl_divergence(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    kind: Literal["softmax", "sigmoid"] = "softmax",
    eps: float = 1e-6,
) -> float:
    """Paired KL as in audioldm-eval 0.0.3 ``calculate_kl``: ``p`` = reference logits, ``q`` = generated.

    Rows must already be paired (see :func:`pair_by_basename`). With ``EPS = 1e-6``::

        softmax: (1/N) sum_i sum_c P_ic (log P_ic - log(Q_ic + EPS)),  P = softmax(p_i), Q = softmax(q_i)
        sigmoid: (1/N) sum_i sum_c S_ic (log S_ic - log(T_ic + EPS)),  S = sigmoid(p_ic), T = sigmoid(q_ic)

    i.e. ``F.kl_div(log(Q + EPS), P, reduction="sum") / N`` (terms with ``P == 0`` count 0). It is
    KL(reference || generated), summed over classes and averaged over pairs. The "sigmoid" variant is
    audioldm_eval's ``KL_Sigmoid``: not a Bernoulli KL (no ``1 - p`` terms) and it can be negative.
    Computed in float64 with ``log P`` from log-softmax/log-sigmoid (audioldm_eval: float32 torch).
    """
    import numpy as np

    p = _as_2d(p_logits, "p_logits")
    q = _as_2d(q_logits, "q_logits")
    if p.shape != q.shape:
        raise ValueError(f"paired logits must have equal shapes: {p.shape} vs {q.shape}")
    if kind == "softmax":
        log_pp = _log_softmax(p)
        qq = np.exp(_log_softmax(q))
    elif kind == "sigmoid":
        log_pp = -np.logaddexp(0.0, -p)  # log sigmoid
        qq = np.exp(-np.logaddexp(0.0, -q))
    else:
        raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")
    pp = np.exp(log_pp)
    terms = np.where(pp > 0, pp * (log_pp - np.log(qq + eps)), 0.0)
    return float(terms.sum() / p.shape[0])


def pair_by_basename(
    reference_paths: Sequence[str], generated_paths: Sequence[str]
) -> tuple[list[int], list[int], list[str]]:
    """Pair rows by file basename as audioldm_eval's KL does.

    Returns ``(ref_rows, gen_rows, missing)``: row indices in reference order for every reference
    basename also present among the generated files, and the reference basenames with no generated
    counterpart (audioldm_eval prints and skips them). Duplicate basenames: the last occurrence wins
    (audioldm_eval builds dicts keyed by basename).
    """
    ref = {os.path.basename(p): i for i, p in enumerate(reference_paths)}
    gen = {os.path.basename(p): i for i, p in enumerate(generated_paths)}
    ref_rows: list[int] = []
    gen_rows: list[int] = []
    missing: list[str] = []
    for name, i in ref.items():
        if name in gen:
            ref_rows.append(i)
            gen_rows.append(gen[name])
        else:
            missing.append(name)
    return ref_rows, gen_rows, missing


# --------------------------------------------------------------------------------------------------
# KAD
# --------------------------------------------------------------------------------------------------


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

    xa, ya = _embedding_pair(x, y)
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
