"""FAD-family cost, measured in one run against references (not a test; CI does not time anything).

    python tests/perf/fad.py [--clips 200] [--seconds 10] [--n 1000]

1. Frechet distance of N random 2048-d embeddings per set: our float64 route against scipy ``sqrtm`` (the route of
   audioldm_eval, pytorch-fid and most FAD code): time ratio (goal <= 0.05) and relative difference of the values;
   for N < d also the Gram route against the full eigh route.
2. CNN14 on ``--clips`` clips of ``--seconds`` s (half generated, half reference, 16 kHz WAV files): the wall time of a
   real ``pytest`` run of a folder-against-folder FD benchmark (new process, decoding, checks, embedding, cache
   writes, gate, results file) against the network's forward pass alone on the same audio, already in memory
   (goal <= 1.2); then the same pytest run again with the embedding cache filled, against the first run.
The CNN14 checkpoint is random (official layout): the cost does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def frechet_timing(n: int, dim: int = 2048) -> None:
    import scipy.linalg

    from pytest_audiollm.metrics.generation import frechet_distance_from_embeddings

    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) * 0.05, 0)
    y = np.maximum(rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) * 0.05 + 0.1, 0)
    started = time.perf_counter()
    ours = frechet_distance_from_embeddings(x, y)
    ours_s = time.perf_counter() - started

    started = time.perf_counter()
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    reference = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))
    scipy_s = time.perf_counter() - started
    print(f"FD, N={n} per set, d={dim}: ours ({ours.method}) {ours_s:.3f} s, scipy sqrtm {scipy_s:.3f} s")
    print(f"  time ratio ours/scipy = {ours_s / scipy_s:.4f} (goal <= 0.05)")
    print(f"  values: ours {ours.distance:.9f}, scipy {reference:.9f}, relative difference "
          f"{abs(ours.distance - reference) / abs(reference):.2e}")  # fmt: skip
    if ours.method == "gram":  # N < d: the Gram route; the full eigh route is the reference
        started = time.perf_counter()
        full = frechet_distance_from_embeddings(x, y, method="eigh")
        eigh_s = time.perf_counter() - started
        print(f"  gram route / eigh route time ratio = {ours_s / eigh_s:.3f}; values differ by "
              f"{abs(ours.distance - full.distance) / abs(full.distance):.2e}")  # fmt: skip


def _write_clips(root: Path, clips: int, seconds: float) -> list[np.ndarray]:
    import soundfile as sf

    rng = np.random.default_rng(1)
    waves = []
    for folder in ("generated", "reference"):
        (root / folder).mkdir(parents=True)
    for i in range(clips):
        t = np.arange(int(seconds * 16000)) / 16000
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(t.size)
        wave = wave.astype(np.float32)
        folder = "generated" if i % 2 == 0 else "reference"
        sf.write(root / folder / f"clip{i // 2:04d}.wav", wave, 16000)
        waves.append(wave)
    return waves


def cnn14_timing(clips: int, seconds: float) -> None:
    import torch

    from pytest_audiollm.features.backbones import build_cnn14

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        waves = _write_clips(root / "bench", clips, seconds)
        model = build_cnn14(16000).eval()
        checkpoint = root / "Cnn14_16k_mAP=0.438.pth"
        torch.save({"model": model.state_dict()}, checkpoint)
        (root / "bench" / "bench_fd.yaml").write_text(
            "name: perf-fd\ntask: generation\ndata: {generated: generated, reference: reference}\nmetrics: [fd]\n"
        )
        started = time.perf_counter()
        with torch.inference_mode():
            for wave in waves:
                model(torch.from_numpy(wave)[None, :])
        forward_s = time.perf_counter() - started

        env = dict(os.environ, AUDIOLLM_CNN14_16K_CHECKPOINT=str(checkpoint), AUDIOLLM_CACHE_DIR=str(root / "cache"))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "bench"),
                   "--audiollm-results", str(root / "results.json")]  # fmt: skip
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            done = subprocess.run(command, check=False, env=env, cwd=root, capture_output=True, text=True)
            runs.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:])
                raise SystemExit("the pytest run failed")
    print(f"CNN14 16 kHz, {clips} clips of {seconds:g} s ({clips // 2} generated + {clips // 2} reference), 2 cores:")
    print(f"  forward pass alone {forward_s:.2f} s ({forward_s / clips * 1000:.0f} ms per clip)")
    print(f"  pytest end to end (first run, empty cache) {runs[0]:.2f} s")
    print(f"  ratio end-to-end / forward alone = {runs[0] / forward_s:.3f} (goal <= 1.2)")
    print(f"  cached re-run {runs[1]:.2f} s: ratio re-run / first run = {runs[1] / runs[0]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    frechet_timing(args.n)
    cnn14_timing(args.clips, args.seconds)


if __name__ == "__main__":
    main()
