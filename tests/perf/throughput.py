"""Throughput of the ``openai:`` adapter against a server with a fixed latency (not a pytest test file).

    python tests/perf/throughput.py [--requests N] [--latency-ms L] [--concurrency 1 4 16] [--seconds S]

A loopback HTTP server on 127.0.0.1 (``ThreadingHTTPServer``: one thread per connection, so concurrent requests
overlap) speaks the OpenAI chat-completions protocol: ``GET /v1/models`` and ``POST /v1/chat/completions``,
which sleeps L ms (default 50) and answers ``"low"``. It counts the requests it holds at once (the largest count
is the concurrency it actually saw). The ideal throughput at concurrency C is ``C / L`` requests per second.

1. Direct: ``OpenAICompatibleModel.predict()`` on N requests (default 64) of S s of audio (default 1.0) at
   ``--audiollm-model-arg concurrency=C``; samples/s = N / wall time of the call; best of ``--repeat`` runs.
2. Through the plugin: ``pytest bench.yaml --audiollm-model openai:perf@URL --audiollm-model-arg concurrency=C
   --audiollm-batch-size B`` on N clips, samples/s from the results JSON (``timing.samples_per_s``: samples over
   the summed predict() time), for B = 1 and B = N. The adapter declares ``min_batch_size = concurrency``, so
   even with B = 1 the plugin hands it batches of C requests and C are in flight.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

RATE = 16000


class LatencyServer(ThreadingHTTPServer):
    """Chat-completions server that answers every request after ``latency_s``; counts requests in flight."""

    daemon_threads = True
    request_queue_size = 128  # listen backlog: a burst of connections must not wait for SYN retransmits

    def __init__(self, latency_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.completions = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def reset(self) -> None:
        with self.lock:
            self.max_in_flight = 0
            self.completions = 0


class _Handler(BaseHTTPRequestHandler):
    server: LatencyServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply({"object": "list", "data": [{"id": "perf", "object": "model", "owned_by": "perf"}]})

    def do_POST(self) -> None:
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            assert request["messages"][0]["content"][0]["type"] == "input_audio"
            time.sleep(server.latency_s)
            self._reply({"object": "chat.completion", "choices": [{"index": 0, "message": {"content": "low"}}]})
        finally:
            with server.lock:
                server.in_flight -= 1
                server.completions += 1


def direct(url: str, n: int, seconds: float, concurrency: int, repeat: int, server: LatencyServer) -> dict[str, float]:
    from pytest_audiollm.models.adapters.openai_compatible import OpenAICompatibleModel
    from pytest_audiollm.models.protocol import ModelOptions, Request
    from pytest_audiollm.sample import Sample

    options = ModelOptions(
        name="openai:perf", target=f"perf@{url}", extra={"concurrency": concurrency, "max_retries": 0}
    )
    model = OpenAICompatibleModel(options, env={})
    model.load("cpu")
    t = np.arange(int(seconds * RATE)) / RATE
    waves = [(0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32) for i in range(n)]
    requests = [Request(wave, RATE, "low or high?", Sample(f"s{i}", None, ())) for i, wave in enumerate(waves)]
    walls, seen = [], 0
    for _ in range(repeat):
        server.reset()
        started = time.perf_counter()
        outputs = model.predict(requests)
        walls.append(time.perf_counter() - started)
        assert list(outputs) == ["low"] * n and server.completions == n
        seen = max(seen, server.max_in_flight)
    return {"rate": n / min(walls), "wall": min(walls), "seen": seen}


BENCH_YAML = """\
name: perf
task: classification
data: {format: jsonl, path: data.jsonl, fields: {audio: audio, reference: label}}
prompt: "low or high?"
choices: [low, high]
metrics: [accuracy]
"""


def plugin(root: Path, url: str, n: int, concurrency: int, batch: int, server: LatencyServer) -> dict[str, float]:
    results = root / f"r_{concurrency}_{batch}.json"
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTEST_ADDOPTS", None)
    server.reset()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "bench_perf.yaml",
            "--audiollm-model", f"openai:perf@{url}", "--audiollm-model-arg", f"concurrency={concurrency}",
            "--audiollm-model-arg", "max_retries=0", "--audiollm-batch-size", str(batch),
            "--audiollm-results", str(results),
        ],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed (rc {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    run = json.loads(results.read_text())["runs"][0]
    assert run["counts"]["samples"] == n and run["counts"]["errors"] == 0, run["counts"]
    return {"rate": float(run["timing"]["samples_per_s"]), "wall": wall, "seen": server.max_in_flight}


def write_benchmark(root: Path, n: int, seconds: float) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    lines = []
    for i in range(n):
        path = root / "audio" / f"c{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32), RATE)
        lines.append(json.dumps({"id": f"c{i:04d}", "audio": f"audio/{path.name}", "label": "low"}))
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    (root / "bench_perf.yaml").write_text(BENCH_YAML)
    (root / "pytest.ini").write_text("[pytest]\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64, help="requests (and benchmark clips) per run (64)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server sleep per request in ms (50)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16], help="values to try (1 4 16)")
    parser.add_argument("--seconds", type=float, default=1.0, help="audio seconds per request (1.0)")
    parser.add_argument("--repeat", type=int, default=3, help="direct runs per setting, best kept (3)")
    parser.add_argument("--no-plugin", action="store_true", help="skip the runs through pytest")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    n = args.requests
    server = LatencyServer(latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = 96
    print("=" * w)
    print(f"openai: adapter throughput   server latency {args.latency_ms:g} ms, {n} requests of {args.seconds:g} s "
          f"audio, python {sys.version.split()[0]}, {os.cpu_count()} cpus")  # fmt: skip
    print("=" * w)
    print(f"{'':34}{'conc.':>6}{'batch':>7}{'samples/s':>11}{'ideal':>9}{'ratio':>8}{'wall s':>9}{'max in flight':>15}")
    try:
        for c in args.concurrency:
            r = direct(server.url, n, args.seconds, c, args.repeat, server)
            ideal = c / latency
            print(f"{'1. direct predict(N requests)':34}{c:6d}{n:7d}{r['rate']:11.1f}{ideal:9.1f}"
                  f"{r['rate'] / ideal:8.3f}{r['wall']:9.3f}{r['seen']:15d}")  # fmt: skip
        if not args.no_plugin:
            with tempfile.TemporaryDirectory(prefix="audiollm-throughput-") as tmp:
                root = Path(tmp)
                write_benchmark(root, n, args.seconds)
                for c in args.concurrency:
                    for batch in (1, n):
                        r = plugin(root, server.url, n, c, batch, server)
                        ideal = c / latency
                        print(f"{'2. pytest --audiollm-batch-size B':34}{c:6d}{batch:7d}{r['rate']:11.1f}{ideal:9.1f}"
                              f"{r['rate'] / ideal:8.3f}{r['wall']:9.3f}{r['seen']:15d}")  # fmt: skip
    finally:
        server.shutdown()
    print("-" * w)
    print("ideal = concurrency / latency; plugin samples/s = samples / summed predict() time;")
    print("plugin wall s = the whole pytest process (start-up, collection, the warm-up request, reports).")
    print("=" * w)


if __name__ == "__main__":
    main()
