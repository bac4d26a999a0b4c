"""Outputs are written only by a session that ran, atomically, under unique temporary names; a failed write is
one line and leaves the previous file; nothing the plugin reads needs a package no extra declares."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import SineDataset, load_results, run_by_benchmark


@pytest.mark.parametrize(
    "args",
    [
        ("--audiollm-model", "pich"),  # a mistyped model name: a usage error
        ("--audiollm-model", "pitch", "--collect-only"),
        ("--audiollm-model", "pitch", "--audiollm-benchmark", "nosuch.yaml"),
    ],
    ids=["mistyped-model", "collect-only", "missing-spec"],
)
def test_a_session_that_ran_nothing_leaves_the_files_alone(sines: SineDataset, args: tuple[str, ...]) -> None:
    """Before: each of these rewrote both files with ``"runs": []``; a later baseline run then "passed"."""
    first = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json",
                                     "--audiollm-save-baseline", "b.json")  # fmt: skip
    first.assert_outcomes(passed=8)
    before = {name: (sines.root / name).read_bytes() for name in ("r.json", "b.json")}
    sines.pytester.runpytest(*args, "--audiollm-results", "r.json", "--audiollm-save-baseline", "b.json")
    assert {name: (sines.root / name).read_bytes() for name in before} == before


def test_two_sessions_writing_the_same_results_path_both_finish_and_leave_valid_json(sines: SineDataset) -> None:
    """Before: a fixed temporary name made one of two concurrent writers crash, and the file was corrupt."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--audiollm-model", "pitch",
               "--audiollm-results", "shared.json"]  # fmt: skip
    for _ in range(3):
        runs = [subprocess.Popen(command, cwd=sines.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for _ in range(2)]  # fmt: skip
        outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert all("results written to" in out and "Traceback" not in out for out in outputs)
        assert len(run_by_benchmark(load_results(sines.root / "shared.json"), "tones")["samples"]) == 6
        assert not [p for p in sines.root.iterdir() if p.name.startswith(".shared.json")]


def _limit_file_size() -> None:  # runs in the child: files it writes may not grow past 4 KiB (EFBIG, not a signal)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))


def test_a_full_disk_fails_the_run_in_one_line_and_keeps_the_previous_file(sines: SineDataset) -> None:
    """A real write failure (the kernel refuses to let the file grow, as on a full disk), not a simulated one."""
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "r.json").assert_outcomes(passed=8)
    previous = (sines.root / "r.json").read_bytes()
    assert len(previous) > 4096  # so the rewrite cannot fit under the limit
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--audiollm-model", "pitch", "--audiollm-model",
         "deaf", "--audiollm-results", "r.json"],
        cwd=sines.root, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size, check=False,
    )  # fmt: skip
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("pytest-audiollm: error: could not write")]
    assert len(lines) == 1 and "r.json" in lines[0], done.stdout[-3000:]
    assert (sines.root / "r.json").read_bytes() == previous
    assert not [p for p in sines.root.iterdir() if p.name.startswith(".r.json")]


def _wav_bytes() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(np.arange(1600) / 5)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


def test_webdataset_shards_are_read_without_braceexpand_or_webdataset(tmp_path: Path) -> None:
    """Before: listing shards imported ``braceexpand``, which no install extra declares (ModuleNotFoundError)."""
    for shard in range(2):
        with tarfile.open(tmp_path / f"part-{shard:03d}.tar", "w") as tar:
            for key, data in ((f"k{shard}.wav", _wav_bytes()), (f"k{shard}.txt", b"a tone")):
                info = tarfile.TarInfo(key)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["braceexpand"] = None  # importing either now raises ImportError, as in an install without them
        sys.modules["webdataset"] = None
        from pathlib import Path
        from pytest_audiollm.benchmarks.data_spec import DataSpec
        from pytest_audiollm.benchmarks.sources import list_samples
        root = Path({str(tmp_path)!r})
        spec = DataSpec(format="webdataset", path="part-{{000..001}}.tar", base_dir=root,
                        source=str(root / "bench.yaml"), fields={{"reference": "txt"}})
        print([s.id for s in list_samples(spec, "tones")], [s.error for s in list_samples(spec, "tones")])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['k0', 'k1'] [None, None]"
