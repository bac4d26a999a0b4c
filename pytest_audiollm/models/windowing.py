"""Windowing of long audio: a model never receives more than its window; the outputs are joined.

Processors such as Qwen2-Audio's cut audio at 30 s without a word. A model that declares
``max_audio_seconds`` gets long clips as consecutive windows of that length, every ``window_hop_seconds``
(default: the window, i.e. no overlap); the last window ends at the end of the clip (it may be shorter).
Its outputs for the windows are joined by ``AudioModel.join_windows``: by default the texts with one space
between them, or, for the ``species`` task, NatureLM's ``#0.00s - 10.00s#: label`` lines (which the species
metric parses). The number of windows of each sample goes into the results (``audio.windows``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_audiollm.models.protocol import Request

Span = tuple[float, float]  # seconds


def spans(n_samples: int, rate: int, window_s: float, hop_s: float | None = None) -> list[tuple[int, int]]:
    """Sample ranges [start, stop) of the windows that cover ``n_samples`` (one range when it fits)."""
    window = max(1, round(window_s * rate))
    hop = max(1, round((hop_s or window_s) * rate))
    if n_samples <= window:
        return [(0, n_samples)]
    ranges = []
    start = 0
    while True:
        stop = min(start + window, n_samples)
        ranges.append((start, stop))
        if stop >= n_samples:
            return ranges
        start += hop


def split_request(request: Request, window_s: float | None, hop_s: float | None = None) -> list[Request]:
    """``request`` as one request per window (itself when the audio fits the window)."""
    if not window_s:
        return [request]
    ranges = spans(len(request.audio), request.sample_rate, window_s, hop_s)
    if len(ranges) == 1:
        return [request]
    return [dataclasses.replace(request, audio=request.audio[start:stop]) for start, stop in ranges]


def window_spans(request: Request, window_s: float | None, hop_s: float | None = None) -> list[Span]:
    if not window_s:
        return [(0.0, len(request.audio) / request.sample_rate)]
    rate = request.sample_rate
    return [(a / rate, b / rate) for a, b in spans(len(request.audio), rate, window_s, hop_s)]


def join_texts(outputs: Sequence[str], windows: Sequence[Span], task: str) -> str:
    """The default join: NatureLM-style window lines for species identification, else the texts in order."""
    if len(outputs) == 1:
        return outputs[0]
    if task == "species":
        return "\n".join(
            f"#{a:.2f}s - {b:.2f}s#: {text.strip()}" for text, (a, b) in zip(outputs, windows, strict=True)
        )
    return " ".join(text.strip() for text in outputs if text.strip())
