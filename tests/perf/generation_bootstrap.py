"""Cost of a distribution metric's bootstrap CI (``generation.bootstrap: B``), measured in one run (not a test).

    python tests/perf/generation_bootstrap.py [--files 200] [--resamples 100]

For FD, KID, KAD and ISc on ``--files`` random CNN14-like 2048-d embeddings per set (and FAD on VGGish-like frames,
10 per file): the time of the value alone, of the value with a B-resample CI, and their ratio. The bootstrap
recomputes the distance on every resample over the cached embeddings (no network runs again), so the ratio is
about B + 1; the embeddings themselves (the expensive part of a real run: see tests/perf/fad.py) are not
recomputed. The interval is shifted by the resampling bias (the mean of the resamples minus the value), printed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from pytest_audiollm.features.frontend import FileFeatures
    from pytest_audiollm.metrics.generation.catalog import Fad, Fd, Isc, Kad, Kid
    from pytest_audiollm.metrics.generation.protocol import DistanceSettings
    from pytest_audiollm.tasks.generation.gate import _bootstrap_distance

    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    def files(shift: float) -> list[FileFeatures]:
        out = []
        for i in range(args.files):
            feature = FileFeatures(f"f{i}", "", "", 1.0)
            feature.embedding = np.maximum(rng.standard_normal(2048) + shift, 0)
            feature.logits = rng.standard_normal(527) + shift
            feature.vggish = rng.standard_normal((10, 128)) + shift
            out.append(feature)
        return out

    generated, reference = files(0.1), files(0.0)
    settings = DistanceSettings(kid_subsets=100, kid_subset_size=min(1000, args.files), isc_splits=10)
    print(f"{args.files} generated and {args.files} reference files, {args.resamples} bootstrap resamples")
    for metric in (Fd(), Fad(), Kid(), Kad(), Isc()):
        started = time.perf_counter()
        value = metric.distance(generated, reference, settings).value
        alone = time.perf_counter() - started
        started = time.perf_counter()
        (low, high), bias = _bootstrap_distance(metric, generated, reference, settings, args.resamples, 0, value)
        boot = time.perf_counter() - started
        print(f"  {metric.name:4s} value {value:10.4f} in {alone:7.3f} s; CI [{low:.4f}, {high:.4f}] (resampling bias "
              f"{bias:+.4f}) in {boot:8.2f} s: ratio {(alone + boot) / alone:6.1f} "
              f"(expected about {args.resamples + 1})")  # fmt: skip


if __name__ == "__main__":
    main()
