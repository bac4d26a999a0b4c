"""Java for the captioning metrics that only exist as jars (PTB tokeniser, METEOR, SPICE).

Finds a ``java`` executable (``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH) and its major version,
finds the jars shipped by ``pycocoevalcap==1.2`` without importing it, and keeps at most ONE long-lived JVM
per tool per Python process (:class:`JavaProcess`): started lazily on first use, used under a lock, restarted
once when it died, closed by :func:`close_all` (the plugin calls it at session end) and at interpreter exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

PYCOCOEVALCAP_PIN = "pycocoevalcap==1.2"
INSTALL_JAVA = (
    "install one, e.g. `apt-get install default-jre-headless` (Debian/Ubuntu), `brew install openjdk` (macOS) "
    "or `conda install openjdk`, or set JAVA_HOME to an installed Java runtime"
)

# tool -> (display name, files inside pycocoevalcap's package directory that it needs)
TOOL_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ptb": ("PTB tokenisation (caption_tokenizer: ptb)", ("tokenizer/stanford-corenlp-3.4.1.jar",)),
    "meteor": ("METEOR", ("meteor/meteor-1.5.jar", "meteor/data/paraphrase-en.gz")),
    "spice": ("SPICE", ("spice/spice-1.0.jar", "spice/lib/SceneGraphParser-1.0.jar")),
}


_INLINE_WRITE = 4096  # bytes; well under any OS pipe buffer


class JavaError(RuntimeError):
    """A Java tool failed (died twice, timed out, or answered something unexpected)."""


@dataclass(frozen=True)
class JavaRuntime:
    executable: str
    major: int  # 8 for "1.8.0_292", 17 for "17.0.15"
    version: str


def find_java() -> tuple[str | None, str]:
    """The java executable to use and where it was looked for (for messages)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / ("java.exe" if os.name == "nt" else "java")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), f"JAVA_HOME={home}"
    found = shutil.which("java")
    where = f"PATH (JAVA_HOME={home} has no bin/java)" if home else "PATH"
    return found, where


@lru_cache(maxsize=8)
def _runtime_of(executable: str) -> JavaRuntime | None:
    try:
        proc = subprocess.run([executable, "-version"], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    if proc.returncode != 0 or match is None:
        return None
    version = match.group(1)
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    return JavaRuntime(executable, major, version)


def java_runtime() -> JavaRuntime | None:
    """The Java runtime found now (None when there is none that runs)."""
    executable, _ = find_java()
    return _runtime_of(executable) if executable else None


@lru_cache(maxsize=8)
def _modules_of(executable: str) -> frozenset[str]:
    try:
        proc = subprocess.run([executable, "--list-modules"], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.split("@", 1)[0].strip() for line in proc.stdout.splitlines() if line.strip())


def has_source_launcher(runtime: JavaRuntime) -> bool:
    """Whether ``java File.java`` works: Java 11+ with the ``jdk.compiler`` module in its runtime image.

    Debian/Ubuntu's ``openjdk-*-jre-headless`` ship the full module image (``jdk.compiler`` included); jlink'ed
    JREs such as Eclipse Temurin's JRE builds do not.
    """
    return runtime.major >= 11 and "jdk.compiler" in _modules_of(runtime.executable)


def pycocoevalcap_dir() -> Path | None:
    """pycocoevalcap's package directory, found without importing it."""
    try:
        spec = importlib.util.find_spec("pycocoevalcap")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def pycocoevalcap_file(relative: str) -> Path | None:
    base = pycocoevalcap_dir()
    path = base / relative if base is not None else None
    return path if path is not None and path.is_file() else None


def java_unavailable_reason(tool: str) -> str | None:
    """Why ``tool`` (``ptb``, ``meteor``, ``spice``) cannot run here, with what to install; None when it can."""
    display, files = TOOL_FILES[tool]
    executable, where = find_java()
    if executable is None:
        return f"{display} needs a Java runtime (java was not found on {where}): {INSTALL_JAVA}."
    runtime = _runtime_of(executable)
    if runtime is None:
        return f"{display} needs a Java runtime, but `{executable} -version` failed: {INSTALL_JAVA}."
    if runtime.major < 8:
        return f"{display} needs Java 8 or newer ({executable} is Java {runtime.version}): {INSTALL_JAVA}."
    base = pycocoevalcap_dir()
    if base is None:
        return (
            f"{display} needs pycocoevalcap's jars, and pycocoevalcap is not installed in this Python "
            f"environment: pip install '{PYCOCOEVALCAP_PIN}' (the wheel ships the jars; about 100 MB)."
        )
    missing = [name for name in files if not (base / name).is_file()]
    if missing:
        return (
            f"{display} needs pycocoevalcap's jars, and {', '.join(missing)} is missing under {base}: "
            f"pip install --force-reinstall '{PYCOCOEVALCAP_PIN}'."
        )
    return None


class JavaProcess:
    """One long-lived line-oriented JVM: a request is some lines written, a known number of lines read back.

    Thread-safe (one request at a time), started on first use, restarted once when it died (before or during a
    request), killed when a request takes longer than its timeout (so nothing ever hangs).
    """

    def __init__(self, name: str, argv: Callable[[], list[str]], *, cwd: str | None = None, startup_s: float = 120):
        self.name = name
        self._argv = argv
        self._cwd = cwd
        self._startup_s = startup_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._fresh = False
        self.starts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        self._stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _stop()
        self._proc = subprocess.Popen(
            self._argv(),
            cwd=self._cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._fresh = True
        self.starts += 1
        return self._proc

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def request(self, lines: Sequence[str], n_responses: int, *, timeout_s: float | None = None) -> list[str]:
        """Send ``lines`` (no newlines inside) and read ``n_responses`` lines back."""
        payload = "".join(line + "\n" for line in lines).encode("utf-8", "replace")
        with self._lock:
            for attempt in (1, 2):
                proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
                limit = (timeout_s if timeout_s is not None else 60 + 0.05 * n_responses) + (
                    self._startup_s if self._fresh else 0
                )
                try:
                    answer = self._exchange(proc, payload, n_responses, limit)
                    self._fresh = False
                    return answer
                except _Died as died:
                    detail = self._stderr_tail()
                    self._stop()
                    if attempt == 2 or died.timed_out:
                        why = f"did not answer within {limit:.0f} s" if died.timed_out else "exited unexpectedly"
                        raise JavaError(
                            f"{self.name} (Java) {why}" + (f"; its stderr ends with:\n{detail}" if detail else "")
                        ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _exchange(proc: subprocess.Popen[bytes], payload: bytes, n: int, limit: float) -> list[str]:
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        write_error: list[BaseException] = []

        def write() -> None:
            try:
                stdin.write(payload)
                stdin.flush()
            except (OSError, ValueError) as exc:  # the JVM died: the reader sees EOF
                write_error.append(exc)

        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(limit, kill)
        timer.daemon = True
        timer.start()
        # A small request fits in the pipe: write it here. A big one is written by a thread while we read,
        # so that neither side can block on a full pipe.
        writer = threading.Thread(target=write, daemon=True) if len(payload) > _INLINE_WRITE else None
        if writer is None:
            write()
        else:
            writer.start()
        try:
            out: list[str] = []
            for _ in range(n):
                raw = stdout.readline()
                if not raw.endswith(b"\n"):
                    raise _Died(timed_out.is_set())
                out.append(raw[:-1].decode("utf-8", "replace").rstrip("\r"))
            if writer is not None:
                writer.join()
            return out
        finally:
            timer.cancel()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


class _Died(Exception):
    def __init__(self, timed_out: bool) -> None:
        super().__init__()
        self.timed_out = timed_out


_REGISTRY: dict[str, JavaProcess] = {}
_REGISTRY_LOCK = threading.Lock()
_ATEXIT: list[bool] = []  # non-empty once close_all is registered


def shared_process(key: str, factory: Callable[[], JavaProcess]) -> JavaProcess:
    """The process registered under ``key``, created (not started) by ``factory`` on first use."""
    with _REGISTRY_LOCK:
        proc = _REGISTRY.get(key)
        if proc is None:
            proc = _REGISTRY[key] = factory()
            if not _ATEXIT:
                atexit.register(close_all)
                _ATEXIT.append(True)
        return proc


def close_all() -> None:
    """Stop every JVM started here (the plugin calls this at session end; also run at interpreter exit)."""
    with _REGISTRY_LOCK:
        processes = list(_REGISTRY.values())
        _REGISTRY.clear()
    for proc in processes:
        proc.close()
