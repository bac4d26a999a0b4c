"""Plots for the HTML report, rendered offline with matplotlib (Agg) into ``data:image/png`` URIs.

matplotlib is imported inside the functions only (it is an optional dependency: ``pytest-audiollm[html]``);
every function returns ``None`` when it is not installed, and the report then says so instead of plotting.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

_DPI = 80


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(label: str, width: int = 24) -> str:
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def histogram(title: str, scores_by_model: dict[str, Sequence[float]], xlabel: str) -> str | None:
    """One histogram of per-sample scores, a semi-transparent layer per model."""
    if not available():
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    values = [v for scores in scores_by_model.values() for v in scores if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    bins = [low + (high - low) * i / 20 for i in range(21)]
    for model, scores in scores_by_model.items():
        finite = [v for v in scores if math.isfinite(v)]
        if finite:
            ax.hist(finite, bins=bins, alpha=0.55, label=_short(model))
    ax.set_title(_short(title, 60))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples")
    if len(scores_by_model) > 1:
        ax.legend(fontsize="small")
    return _data_uri(fig)


def confusion_matrix(title: str, labels: Sequence[str], counts: Sequence[Sequence[int]]) -> str | None:
    """``counts[i][j]``: samples whose reference is ``labels[i]`` and whose prediction names ``labels[j]``."""
    if not available():
        return None
    plt = _pyplot()
    size = min(12.0, 2.0 + 0.45 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(counts, cmap="Blues")
    ticks = list(range(len(labels)))
    short = [_short(label, 18) for label in labels]
    ax.set_xticks(ticks, short, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(ticks, short, fontsize="small")
    ax.set_xlabel("prediction")
    ax.set_ylabel("reference")
    ax.set_title(_short(title, 60))
    peak = max((max(row) for row in counts if row), default=0)
    if len(labels) <= 20:
        for i, row in enumerate(counts):
            for j, value in enumerate(row):
                if value:
                    color = "white" if value > peak / 2 else "black"
                    ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize="small")
    return _data_uri(fig)


def trend(
    title: str, models: Sequence[str], series: dict[str, Sequence[tuple[float | None, float | None, float | None]]]
) -> str | None:
    """A line per metric over the models in run order; each point is (value, ci_low, ci_high)."""
    if not available():
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(models) + 2.0), 3.2))
    xs = list(range(len(models)))
    for metric, points in series.items():
        px = [x for x, p in zip(xs, points, strict=True) if p[0] is not None]
        py = [float(p[0]) for p in points if p[0] is not None]
        if not px:
            continue
        err_low = [float(p[0]) - float(p[1]) if p[0] is not None and p[1] is not None else 0.0 for p in points]
        err_high = [float(p[2]) - float(p[0]) if p[0] is not None and p[2] is not None else 0.0 for p in points]
        kept = [i for i, p in enumerate(points) if p[0] is not None]
        ax.errorbar(
            px, py, yerr=[[err_low[i] for i in kept], [err_high[i] for i in kept]], marker="o", capsize=3, label=metric
        )
    ax.set_xticks(xs, [_short(m, 20) for m in models], rotation=30, ha="right", fontsize="small")
    ax.set_title(_short(title, 60))
    ax.set_ylabel("value (95% CI)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _data_uri(fig)
