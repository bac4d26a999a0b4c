"""The protocols of generation metrics (metrics of generated audio), registered like every metric.

Two families, both registered with ``pytest_audiollm_register_metrics`` and used by benchmarks of task
``generation``:

- :class:`FileMetric`: a value per generated file (PSNR, SSIM, LSD, KL and CLAP score), computed when the
  file's item runs; the run's value is the mean over files, with the seeded bootstrap 95% CI of the text
  metrics. ``paired = True`` means the file needs its reference partner (same name).
- :class:`DistributionMetric`: a value of the whole generated set against the reference set (FAD, FD, KID, KAD,
  ISc), computed by the gate from the files' embeddings; a CI only when the benchmark sets
  ``generation.bootstrap: N`` (N resamples of both sets over the cached embeddings).

``backbone`` names the features a metric reads from :class:`~pytest_audiollm.features.frontend.FileFeatures`:
``cnn14`` (``embedding``, ``logits``), ``vggish`` (``vggish``) or None (the audio itself).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_audiollm.metrics.protocol import MetricInfo

if TYPE_CHECKING:
    from pytest_audiollm.features.frontend import Clip, FileFeatures

__all__ = [
    "AudioMetric",
    "DistanceSettings",
    "DistanceValue",
    "DistributionMetric",
    "FileMetric",
    "NotScorable",
    "ScoredFile",
    "TooFew",
]


class NotScorable(Exception):
    """This file gets no value for the metric (the message says why; the file stays in the other metrics)."""


class TooFew(Exception):
    """The set is too small for the metric: the gate is skipped with the numbers."""


@dataclass
class ScoredFile:
    """A generated file as a FileMetric sees it: its audio and features, its reference partner, its prompt."""

    clip: Clip
    features: FileFeatures
    rate: int  # the rate the benchmark computes its metrics at (generation.sample_rate)
    reference: Clip | None = None  # the partner (paired runs), decoded
    reference_features: FileFeatures | None = None
    prompt: str = ""  # the text prompt it was generated from ("" when unknown)
    clap: Callable[[], Any] | None = None  # the CLAP scorer, loaded on first call (raises NotScorable if none)
    cache: dict[str, Any] = field(default_factory=dict)  # what metrics of one file share (the mels ...)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per file for every metric that asks for ``key``."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


@dataclass(frozen=True)
class DistanceSettings:
    """The ``generation:`` settings a distribution metric reads."""

    kid_subsets: int = 100
    kid_subset_size: int = 1000
    isc_splits: int = 10
    seed: int = 2020


@dataclass
class DistanceValue:
    """A distribution metric's value with what it was computed from."""

    value: float
    n_generated: int
    n_reference: int
    std: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class AudioMetric(MetricInfo):
    """What every generation metric declares besides name, version, direction and reference."""

    backbone: ClassVar[str | None] = None
    paired: ClassVar[bool] = False
    per_file: ClassVar[bool] = True


class FileMetric(AudioMetric, abc.ABC):
    """A metric with a value per generated file; the run's value is their mean (bootstrap CI over files)."""

    per_file: ClassVar[bool] = True

    @abc.abstractmethod
    def file_score(self, file: ScoredFile) -> float:
        """The file's value; raise :class:`NotScorable` (with the reason) to leave it out of this metric."""


class DistributionMetric(AudioMetric, abc.ABC):
    """A metric of the generated set against the reference set, computed from the files' features."""

    per_file: ClassVar[bool] = False
    outliers: ClassVar[bool] = False  # the gate also ranks generated files by distance from the references

    @abc.abstractmethod
    def distance(
        self, generated: Sequence[FileFeatures], reference: Sequence[FileFeatures], settings: DistanceSettings
    ) -> DistanceValue:
        """The value over the two sets (in file order); raise :class:`TooFew` when a set is too small."""
