"""Metrics on classifier outputs (CNN14's 527 AudioSet logits): inception score and paired KL divergences.

Definitions follow ``audioldm-eval==0.0.3`` (``metrics/isc.py``, ``metrics/kl.py``), verified against it in
``tests/test_generation_distances.py``:

* :func:`inception_score` -- ISc with audioldm_eval's seeded shuffle and split boundaries.
* :func:`kl_divergence` -- paired KL (softmax) and "KL_Sigmoid" exactly as audioldm_eval defines them;
  :func:`pair_by_basename` pairs reference and generated files the way it does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_audiollm.metrics.generation.checks import as_2d

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]

__all__ = ["InceptionScoreResult", "inception_score", "kl_divergence", "pair_by_basename"]


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

    z = as_2d(scores, "scores")
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

    p = as_2d(p_logits, "p_logits")
    q = as_2d(q_logits, "q_logits")
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
