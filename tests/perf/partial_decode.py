"""What ``audio.max_seconds`` saves on a long file, now that only the kept frames are decoded (not a pytest file).

    python tests/perf/partial_decode.py [--minutes 30] [--rate 16000] [--max-seconds 10] [--repeat 3]

Writes a long FLAC of white noise (written in one-minute chunks, so the script itself never holds it whole) and
loads it with ``load_audio(ref, rate, max_seconds)`` two ways, each in a fresh subprocess so one does not warm
the other's page cache any differently than a real run would (the file is read once first to put it in the
page cache for both):

- partial: what the plugin does now (hash the file in chunks, decode ``ceil(max_seconds * rate)`` frames);
- full: what it did before (read the file's bytes, hash them, decode every frame, then cut), reproduced with
  soundfile.

Printed per way: the peak traced by tracemalloc (numpy's buffers are traced), the peak RSS growth over the
interpreter with soundfile and soxr imported, and the best wall time of ``--repeat`` loads; then the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]

MEASURE = r"""
import hashlib, io, json, resource, sys, time, tracemalloc
import numpy as np, soundfile as sf, soxr
from pytest_audiollm.audio import load_audio
from pytest_audiollm.sample import AudioRef

path, way, rate, max_seconds, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])


def full():
    data = open(path, "rb").read()
    hashlib.sha256(data).hexdigest()
    frames, file_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = frames[:, 0][: int(np.ceil(max_seconds * file_rate))]
    if file_rate != rate:
        mono = np.asarray(soxr.resample(mono, file_rate, rate, quality="HQ"), dtype=np.float32)
    return mono


def partial():
    return load_audio(AudioRef(path), rate, max_seconds).samples


load = {"full": full, "partial": partial}[way]
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
samples = load()
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
times = []
for _ in range(repeat):
    start = time.perf_counter()
    load()
    times.append(time.perf_counter() - start)
print(json.dumps({"traced": traced, "rss_kib": rss, "seconds": min(times), "kept": int(samples.shape[0])}))
"""


def write_noise_flac(path: Path, minutes: float, rate: int) -> None:
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        left = int(minutes * 60 * rate)
        while left > 0:
            n = min(left, 60 * rate)
            f.write((0.3 * rng.standard_normal(n)).astype(np.float32))
            left -= n


def measure(path: Path, way: str, rate: int, max_seconds: float, repeat: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), way, str(rate), str(max_seconds), str(repeat)],
        capture_output=True, text=True, check=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        write_noise_flac(path, args.minutes, args.rate)
        path.read_bytes()  # into the page cache, for both ways alike
        size, decoded = path.stat().st_size / 2**20, args.minutes * 60 * args.rate * 4 / 2**20
        print(f"{args.minutes:g} min of noise at {args.rate} Hz: FLAC of {size:.1f} MiB, {decoded:.1f} MiB as "
              f"float32; max_seconds = {args.max_seconds:g}")  # fmt: skip
        rows = {way: measure(path, way, args.rate, args.max_seconds, args.repeat) for way in ("full", "partial")}
    for way, row in rows.items():
        print(f"{way:>8}: tracemalloc peak {row['traced'] / 2**20:8.1f} MiB   peak RSS growth "
              f"{row['rss_kib'] / 1024:8.1f} MiB   best of {args.repeat} {row['seconds'] * 1000:8.1f} ms   "
              f"({row['kept']} samples kept)")  # fmt: skip
    full, partial = rows["full"], rows["partial"]
    print(f"full / partial: tracemalloc peak x{full['traced'] / partial['traced']:.0f}, "
          f"time x{full['seconds'] / partial['seconds']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
