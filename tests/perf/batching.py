"""Batching throughput and per-item overhead of pytest-audiollm, measured in one run (not a pytest test file).

    python tests/perf/batching.py [--samples N] [--batch-size B] [--items M] [--repeat R] [--profile]

1. Throughput: a model whose predict() costs a fixed amount per call (a small matmul plus a 2 ms sleep that
   stands in for a GPU launch/sync) plus an FFT per request, over N short clips, run
   (a) by a direct batched loop (load_audio + Request + model.predict on batches of B), in a subprocess, and
   (b) through the plugin: ``pytest bench_perf.yaml --audiollm-model perfmodel --audiollm-batch-size B``.
   Reported: (i) predict-only samples/s as recorded by the plugin (results JSON ``timing.samples_per_s``,
   the sum of the predict() call times) vs the direct loop's predict-only samples/s; (ii) end-to-end wall
   time of the whole pytest process vs the whole direct-loop process (both include interpreter start-up).
2. Per-item overhead at M (10,000) items: an instant model through the plugin vs a plain
   ``@pytest.mark.parametrize("i", range(M))`` test doing the same tiny numpy op, both in subprocesses with
   ``-q -p no:cacheprovider``; run-only time is wall time minus the same command's ``--collect-only`` time.
   The goal compares with a third row: plain parametrized tests doing the same per-sample work (decode the
   WAV with load_audio, the same tiny op); the empty-test ratio is printed too.

Each pytest/direct measurement is repeated R times and the best (minimum) wall time is used. Audio files are
written once into a temporary directory and shared by every measurement. ``--profile`` additionally runs the
plain and plugin runs under cProfile and prints where the time goes, phase by phase.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 16000

# The models, shared by the direct loop (imported from the data dir) and the plugin (the data dir's conftest).
PERFMODEL_PY = '''
import time
import numpy as np
import pytest_audiollm

FIXED_SLEEP_S = {sleep}
MATMUL_N = {matmul}
_W = np.random.default_rng(0).standard_normal((MATMUL_N, MATMUL_N)).astype(np.float32)


def tiny_op():
    """The per-item work of the instant model and of the plain parametrized test."""
    return float(np.abs(np.arange(4.0)).sum())


class PerfModel(pytest_audiollm.AudioModel):
    """Fixed cost per predict() call (a GPU launch + sync stand-in) plus an FFT per request."""

    cpu_only = True

    def memory_estimate(self):
        return 1 << 20

    def predict(self, requests):
        _W @ _W  # fixed per-call work (kernel launch / batch collation)
        time.sleep(FIXED_SLEEP_S)  # fixed per-call latency (device sync)
        out = []
        for r in requests:  # per-request work: spectrum peak
            spectrum = np.abs(np.fft.rfft(r.audio))
            freq = float(np.argmax(spectrum)) * r.sample_rate / len(r.audio)
            out.append("high" if freq > 1000 else "low")
        return out

    def fingerprint(self):
        return "perfmodel-v1"


class InstantModel(pytest_audiollm.AudioModel):
    """No model cost at all: one tiny numpy op and a constant answer per request."""

    cpu_only = True

    def warmup(self):
        pass

    def predict(self, requests):
        return ["yes" if tiny_op() >= 0 else "no" for _ in requests]

    def fingerprint(self):
        return "instant-v1"
'''

CONFTEST_PY = """
import pytest_audiollm
from perfmodel import InstantModel, PerfModel

@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry):
    registry.add("perfmodel", PerfModel)
    registry.add("instant", InstantModel)
"""

BENCH_YAML = """\
name: {name}
version: "1"
task: classification
data:
  format: jsonl
  path: {jsonl}
  fields: {{audio: audio, reference: label}}
prompt: "Answer with one of: {{choices}}."
choices: [{choices}]
audio: {{sample_rate: 16000, max_seconds: 30}}
metrics: [accuracy]
"""

PLAIN_TEST = """
import pytest
from perfmodel import tiny_op

@pytest.mark.parametrize("i", range({n}))
def test_item(i):
    assert tiny_op() >= 0
"""

PLAIN_DECODE_TEST = """
import pytest
from perfmodel import tiny_op
from pytest_audiollm.audio import load_audio
from pytest_audiollm.sample import AudioRef

@pytest.mark.parametrize("i", range({n}))
def test_item(i):
    decoded = load_audio(AudioRef(path="{audio}/t%05d.wav" % i), 16000, 30)
    assert decoded.samples.size and tiny_op() >= 0
"""


# --- data ---------------------------------------------------------------------------------------------------


def wav_bytes(pcm: np.ndarray, rate: int = RATE) -> bytes:
    """A mono 16-bit PCM WAV file."""
    data = pcm.astype("<i2").tobytes()
    header = b"".join(
        [
            b"RIFF",
            (36 + len(data)).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"),  # PCM
            (1).to_bytes(2, "little"),  # mono
            rate.to_bytes(4, "little"),
            (rate * 2).to_bytes(4, "little"),
            (2).to_bytes(2, "little"),
            (16).to_bytes(2, "little"),
            b"data",
            len(data).to_bytes(4, "little"),
        ]
    )
    return header + data


def write_benchmark(root: Path, name: str, count: int, seconds: float, choices: str, label_of) -> Path:
    """``root/audio_<name>/t00000.wav ...``, ``root/<name>.jsonl`` and ``root/bench_<name>.yaml``."""
    audio = root / f"audio_{name}"
    audio.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    lines = []
    for i in range(count):
        freq = 200.0 + (i * 37) % 3000
        pcm = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        (audio / f"t{i:05d}.wav").write_bytes(wav_bytes(pcm))
        sample_id = f"t{i:05d}"
        lines.append(json.dumps({"id": sample_id, "audio": f"audio_{name}/{sample_id}.wav", "label": label_of(freq)}))
    (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    bench = root / f"bench_{name}.yaml"
    bench.write_text(BENCH_YAML.format(name=name, jsonl=f"{name}.jsonl", choices=choices))
    return bench


def make_dirs(tmp: Path, samples: int, items: int, sleep_s: float, matmul: int) -> dict[str, Path]:
    started = time.perf_counter()
    model_src = PERFMODEL_PY.format(sleep=sleep_s, matmul=matmul)
    dirs = {"plugin": tmp / "plugin", "plain": tmp / "plain", "plain_decode": tmp / "plain_decode"}
    for d in dirs.values():
        d.mkdir()
        (d / "pytest.ini").write_text("[pytest]\n")  # own rootdir: no ini/addopts from elsewhere
        (d / "perfmodel.py").write_text(model_src)
    plugin = dirs["plugin"]
    (plugin / "conftest.py").write_text(CONFTEST_PY)
    write_benchmark(plugin, "perf", samples, 0.5, "low, high", lambda f: "high" if f > 1000 else "low")
    write_benchmark(plugin, "instant", items, 0.05, "yes, no", lambda f: "yes")
    (dirs["plain"] / "test_plain.py").write_text(PLAIN_TEST.format(n=items))
    (dirs["plain_decode"] / "test_plain_decode.py").write_text(
        PLAIN_DECODE_TEST.format(n=items, audio=plugin / "audio_instant")
    )
    print(
        f"wrote {samples} x 0.5 s and {items} x 0.05 s WAV files in {time.perf_counter() - started:.1f} s", flush=True
    )
    return dirs


# --- running --------------------------------------------------------------------------------------------------


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("PYTEST_ADDOPTS", None)
    e.pop("PYTEST_PLUGINS", None)
    e["PYTHONHASHSEED"] = "0"
    # a 128x128 matmul gains nothing from BLAS threads; their spin-waiting only steals the other core
    e.setdefault("OPENBLAS_NUM_THREADS", "1")
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


CPU: dict[tuple[str, ...], list[float]] = {}  # command -> CPU seconds (user+sys) of each of its runs


def timed(cmd: list[str], cwd: Path, check_rc: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Wall seconds and stdout of ``cmd``; its CPU seconds go into CPU[cmd] (less sensitive to other load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(tuple(cmd), []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode not in check_rc:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"command failed (rc {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, proc.stdout


def cpu(cmd: list[str]) -> float:
    return min(CPU[tuple(cmd)])


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def direct_loop(data_dir: str, batch_size: int) -> None:
    """The hand-written baseline (run in its own process): read manifest, decode, batch, predict, score."""
    t_start = time.perf_counter()
    sys.path.insert(0, data_dir)
    from perfmodel import PerfModel

    from pytest_audiollm.audio import load_audio
    from pytest_audiollm.models.protocol import Request
    from pytest_audiollm.sample import AudioRef, Sample

    root = Path(data_dir)
    model = PerfModel()
    model.load("cpu")
    model.warmup()
    t_loop = time.perf_counter()
    predict_s, correct, total = 0.0, 0, 0
    prompt = "Answer with one of: low, high."
    with open(root / "perf.jsonl") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for start in range(0, len(rows), batch_size):
        requests = []
        for row in rows[start : start + batch_size]:
            ref = AudioRef(path=str(root / row["audio"]))
            decoded = load_audio(ref, RATE, 30)
            sample = Sample(id=row["id"], audio=ref, references=(row["label"],), benchmark="perf")
            requests.append(Request(audio=decoded.samples, sample_rate=RATE, prompt=prompt, sample=sample))
        started = time.perf_counter()
        outputs = model.predict(requests)
        predict_s += time.perf_counter() - started
        for request, output in zip(requests, outputs, strict=True):
            correct += output == request.sample.references[0]
            total += 1
    t_end = time.perf_counter()
    print(
        json.dumps(
            {
                "samples": total,
                "accuracy": correct / total,
                "predict_s": predict_s,
                "loop_s": t_end - t_loop,
                "in_process_s": t_end - t_start,
            }
        )
    )


def last_json_line(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


# --- the two measurements --------------------------------------------------------------------------------------


def measure_throughput(dirs: dict[str, Path], samples: int, batch: int, repeat: int) -> dict:
    plugin = dirs["plugin"]
    direct_cmd = [sys.executable, str(Path(__file__).resolve()), "--_direct", str(plugin), "--batch-size", str(batch)]
    results_path = plugin / "results_perf.json"
    plugin_cmd = pytest_cmd(
        "bench_perf.yaml", "--audiollm-model", "perfmodel", "--audiollm-batch-size", str(batch),
        "--audiollm-results", str(results_path),
    )  # fmt: skip
    collect_cmd = pytest_cmd("bench_perf.yaml", "--audiollm-model", "perfmodel", "--collect-only")
    direct, runs, collect = [], [], []
    for _ in range(repeat):  # interleaved, so that load from elsewhere hits both sides alike
        wall, out = timed(direct_cmd, plugin)
        direct.append((wall, last_json_line(out)))
        wall, _ = timed(plugin_cmd, plugin)
        run = json.loads(results_path.read_text())["runs"][0]
        assert run["counts"]["samples"] == samples and run["counts"]["errors"] == 0, run["counts"]
        assert abs(run["metrics"]["accuracy"]["value"] - direct[-1][1]["accuracy"]) < 1e-9
        runs.append((wall, run["timing"]))
        collect.append(timed(collect_cmd, plugin)[0])
    return {
        "direct_wall": min(w for w, _ in direct),
        "direct_cpu": cpu(direct_cmd),
        "direct_loop": min(d["loop_s"] for _, d in direct),
        "direct_predict": min(d["predict_s"] for _, d in direct),
        "direct_rate": samples / min(d["predict_s"] for _, d in direct),
        "plugin_wall": min(w for w, _ in runs),
        "plugin_cpu": cpu(plugin_cmd),
        "plugin_collect": min(collect),
        "plugin_collect_cpu": cpu(collect_cmd),
        "plugin_predict": min(t["predict_s"] for _, t in runs),
        "plugin_rate": max(t["samples_per_s"] for _, t in runs),
        "spread": (
            max(d["predict_s"] for _, d in direct) / min(d["predict_s"] for _, d in direct),
            max(t["predict_s"] for _, t in runs) / min(t["predict_s"] for _, t in runs),
        ),
    }


def measure_overhead(dirs: dict[str, Path], items: int, batch: int, repeat: int, decode_row: bool) -> dict:
    plugin_args = ["bench_instant.yaml", "--audiollm-model", "instant", "--audiollm-batch-size", str(batch)]
    rows = {
        "plain": (dirs["plain"], ["test_plain.py", "-p", "no:audiollm"]),
        "plugin": (dirs["plugin"], plugin_args),
    }
    if decode_row:
        rows["plain_decode"] = (dirs["plain_decode"], ["test_plain_decode.py", "-p", "no:audiollm"])
    walls: dict[str, list[float]] = {name: [] for name in rows}
    collects: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeat):  # interleaved
        for name, (cwd, args) in rows.items():
            wall, stdout = timed(pytest_cmd(*args), cwd)
            passed = [line for line in stdout.splitlines() if " passed" in line]
            expected = items + (1 if name == "plugin" else 0)  # + the accuracy gate item
            if not passed or f"{expected} passed" not in passed[-1]:
                raise SystemExit(f"{name}: expected {expected} passed, got: {stdout[-500:]}")
            walls[name].append(wall)
            collects[name].append(timed(pytest_cmd(*args, "--collect-only"), cwd)[0])
    out = {}
    for name, (_, args) in rows.items():
        wall, collect = min(walls[name]), min(collects[name])
        run_cpu = cpu(pytest_cmd(*args)) - cpu(pytest_cmd(*args, "--collect-only"))
        out[name] = {
            "wall": wall,
            "collect": collect,
            "run": wall - collect,
            "per_item_us": 1e6 * (wall - collect) / items,
            "cpu": cpu(pytest_cmd(*args)),
            "run_cpu": run_cpu,
            "per_item_cpu_us": 1e6 * run_cpu / items,
        }
    return out


PHASES = (  # (label, function name, file suffix): cumulative times compared between the two profiles
    ("collection (all collectors)", "collect", "_pytest/runner.py"),
    ("  per-item getfixtureinfo", "getfixtureinfo", "_pytest/fixtures.py"),
    ("  list_samples (jsonl)", "list_samples", "benchmarks/sources.py"),
    ("runtest protocol (all items)", "runtestprotocol", "_pytest/runner.py"),
    ("  setup phase (fixtures)", "pytest_runtest_setup", "_pytest/runner.py"),
    ("  call phase", "pytest_runtest_call", "_pytest/runner.py"),
    ("    load_audio", "load_audio", "pytest_audiollm/audio.py"),
    ("    model predict()", "predict", "pytest_audiollm/models/session.py"),
    ("    score_sample", "score_sample", "pytest_audiollm/scoring.py"),
    ("    gate bootstrap (aggregate)", "aggregate", "metrics/stats.py"),
    ("  teardown phase", "pytest_runtest_teardown", "_pytest/runner.py"),
    ("    model unload (gc.collect)", "_safe_unload", "models/session.py"),
    ("  makereport", "pytest_runtest_makereport", "_pytest/runner.py"),
    ("  terminal logreport", "pytest_runtest_logreport", "_pytest/terminal.py"),
    ("audiollm terminal summary", "pytest_terminal_summary", "results/collector.py"),
)


def profile(dirs: dict[str, Path], batch: int) -> None:
    """cProfile the plain and the plugin run of part 2 (and the plugin run of part 1); print where time goes."""
    import pstats

    runs = {
        "plain": (dirs["plain"], ["test_plain.py", "-p", "no:audiollm"]),
        "plugin": (dirs["plugin"], ["bench_instant.yaml", "--audiollm-model", "instant", "--audiollm-batch-size",
                                    str(batch)]),
        "plugin-perf": (dirs["plugin"], ["bench_perf.yaml", "--audiollm-model", "perfmodel", "--audiollm-batch-size",
                                         str(batch)]),
    }  # fmt: skip
    cum: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = {}
    for name, (cwd, args) in runs.items():
        out = cwd / f"{name}.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
        timed(cmd, cwd)
        stats = pstats.Stats(str(out))
        totals[name] = stats.total_tt  # type: ignore[attr-defined]
        cum[name] = {}
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            for label, fname, suffix in PHASES:
                if func == fname and filename.endswith(suffix):
                    cum[name][label] = cum[name].get(label, 0.0) + ct
    print("\n--- cProfile (profiler overhead inflates times ~2x; compare the shares): cumulative seconds (% of run)")
    print(f"   {'':34}" + "".join(f"{n:>18}" for n in runs))
    print(f"   {'total profiled':34}" + "".join(f"{totals[n]:11.2f} (100%)" for n in runs))
    for label, _, _ in PHASES:
        cells = "".join(
            f"{cum[n].get(label, 0.0):11.2f} ({100 * cum[n].get(label, 0.0) / totals[n]:3.0f}%)" for n in runs
        )
        print(f"   {label:34}{cells}")


# --- main -----------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="samples of the throughput benchmark (2000)")
    parser.add_argument("--batch-size", type=int, default=16, help="--audiollm-batch-size and direct batch (16)")
    parser.add_argument("--items", type=int, default=10000, help="items of the overhead comparison (10000)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per side, best kept (3)")
    parser.add_argument("--repeat-items", type=int, default=2, help="overhead runs per row, best kept (2)")
    parser.add_argument("--sleep-ms", type=float, default=2.0, help="fixed per-predict() latency in ms (2.0)")
    parser.add_argument("--matmul", type=int, default=128, help="fixed per-predict() NxN matmul (128)")
    parser.add_argument("--no-decode-row", action="store_true", help="skip the plain+load_audio reference row")
    parser.add_argument("--profile", action="store_true", help="also profile the plugin runs with cProfile")
    parser.add_argument("--_direct", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._direct:
        direct_loop(args._direct, args.batch_size)
        return

    t0 = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="audiollm-perf-") as tmp:
        dirs = make_dirs(Path(tmp), args.samples, args.items, args.sleep_ms / 1000, args.matmul)
        print("measuring throughput ...", flush=True)
        tp = measure_throughput(dirs, args.samples, args.batch_size, args.repeat)
        print("measuring per-item overhead ...", flush=True)
        ov = measure_overhead(dirs, args.items, args.batch_size, args.repeat_items, not args.no_decode_row)
        load_after = os.getloadavg()
        if args.profile:
            profile(dirs, args.batch_size)

    n, b = args.samples, args.batch_size
    r_predict = tp["plugin_rate"] / tp["direct_rate"]
    r_e2e = tp["direct_wall"] / tp["plugin_wall"]
    r_e2e_cpu = tp["direct_cpu"] / tp["plugin_cpu"]
    r_run = tp["direct_loop"] / max(tp["plugin_wall"] - tp["plugin_collect"], 1e-9)
    p, q = ov["plugin"], ov["plain"]

    w = 84
    print("\n" + "=" * w)
    load = f"load avg {load_before[0]:.2f} -> {load_after[0]:.2f}"
    print(f"pytest-audiollm batching perf   python {sys.version.split()[0]}, {os.cpu_count()} cpus, best of "
          f"{args.repeat} (part 1) / {args.repeat_items} (part 2), {load}")  # fmt: skip
    print("=" * w)
    print(f"1. THROUGHPUT   {n} clips x 0.5 s, batch {b}; predict() = {args.matmul}x{args.matmul} matmul + "
          f"{args.sleep_ms:g} ms sleep per call, rfft per request")  # fmt: skip
    print(f"   {'':44} {'direct loop':>12} {'plugin':>12}")
    print(
        f"   {'predict-only samples/s (sum of predict calls)':44} {tp['direct_rate']:12.1f} {tp['plugin_rate']:12.1f}"
    )
    print(f"   {'predict() seconds':44} {tp['direct_predict']:12.3f} {tp['plugin_predict']:12.3f}")
    print(f"   {'  max/min predict s over runs (noise)':44} {tp['spread'][0]:12.2f} {tp['spread'][1]:12.2f}")
    print(f"   {'end-to-end process wall s':44} {tp['direct_wall']:12.3f} {tp['plugin_wall']:12.3f}")
    print(f"   {'end-to-end process CPU s (user+sys)':44} {tp['direct_cpu']:12.3f} {tp['plugin_cpu']:12.3f}")
    print(f"   {'end-to-end samples/s (wall)':44} {n / tp['direct_wall']:12.1f} {n / tp['plugin_wall']:12.1f}")
    print(f"   {'run phase s (direct: decode+predict loop;':44} {tp['direct_loop']:12.3f} "
          f"{tp['plugin_wall'] - tp['plugin_collect']:12.3f}")  # fmt: skip
    print(f"   {'  plugin: wall - --collect-only wall)':44}")
    print(f"   {'plugin --collect-only wall s':44} {'':12} {tp['plugin_collect']:12.3f}")
    goal = "goal >= 0.95:"
    ok_i, ok_ii = verdict(r_predict >= 0.95), verdict(r_e2e >= 0.95)
    print(f"   (i)  predict-only throughput  plugin/direct        = {r_predict:6.3f}   {goal} {ok_i}")
    print(f"   (ii) end-to-end throughput    direct/plugin wall   = {r_e2e:6.3f}   {goal} {ok_ii}")
    print(f"        end-to-end, CPU time     direct/plugin CPU    = {r_e2e_cpu:6.3f}")
    print(f"        run phase only           direct/plugin        = {r_run:6.3f}   (start-up + collection excluded)")
    print("-" * w)
    print(f"2. PER-ITEM OVERHEAD   {args.items} items, instant model (0.05 s clips), batch {b}")
    heads = ("wall s", 7), ("collect s", 9), ("run s", 7), ("run us/item", 11), ("CPU s", 7), ("run CPU us/item", 15)
    print(f"   {'':26} " + " ".join(f"{h:>{width}}" for h, width in heads))
    labels = {
        "plain": "plain parametrize",
        "plugin": "plugin (bench YAML)",
        "plain_decode": "plain + same work",
    }
    for name in ("plain", "plugin", "plain_decode"):
        if name in ov:
            o = ov[name]
            print(f"   {labels[name]:26} {o['wall']:7.2f} {o['collect']:9.2f} {o['run']:7.2f} {o['per_item_us']:11.1f} "
                  f"{o['cpu']:7.2f} {o['per_item_cpu_us']:15.1f}")  # fmt: skip
    r_wall, r_item = p["wall"] / q["wall"], p["run"] / q["run"]
    if "plain_decode" in ov:
        # the goal: what the plugin adds to a plain parametrized test doing the same per-sample work
        d = ov["plain_decode"]
        r_same, r_same_wall = p["run"] / d["run"], p["wall"] / d["wall"]
        ok = verdict(r_same <= 1.25)
        print(f"   per-item run ratio  plugin/(plain + same work) = {r_same:6.3f}   goal <= 1.25: {ok}")
        print(
            f"   total wall ratio    plugin/(plain + same work) = {r_same_wall:6.3f}   goal <= 1.25: "
            f"{verdict(r_same_wall <= 1.25)}"
        )
    print(f"   per-item run ratio  plugin/empty plain test    = {r_item:6.3f}   (includes decoding the audio)")
    print(f"   total wall ratio    plugin/empty plain test    = {r_wall:6.3f}")
    print(f"   per-item run ratio (CPU)  plugin/empty plain   = {p['run_cpu'] / q['run_cpu']:6.3f}")
    print(f"   collection ratio (wall)   plugin/empty plain   = {p['collect'] / q['collect']:6.3f}")
    print("=" * w)
    print(f"total script time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
