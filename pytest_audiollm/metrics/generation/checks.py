"""Input checks shared by the distribution distances: embedding sets as finite float64 2-D arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]

__all__ = ["as_2d", "embedding_pair"]


def as_2d(x: ArrayLike, name: str) -> Array:
    """``x`` as a non-empty, finite float64 (samples x features) array; ``name`` is used in the error."""
    import numpy as np

    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def embedding_pair(x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """Both embedding sets as finite float64 (samples x features) arrays of the same dimension."""
    xa, ya = as_2d(x, "x"), as_2d(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"embedding dimensions differ: {xa.shape[1]} vs {ya.shape[1]}")
    return xa, ya
