"""Memory accounting: resident memory on CPU (Linux /proc), allocator counters on CUDA, per phase.

A model may sit on several devices (a ``device_map`` over GPUs, with part of it offloaded to CPU RAM); the
probe sums the counters of every device it is given: ``torch.cuda.memory_allocated`` /
``max_memory_allocated`` per CUDA device, plus the process's resident set when ``cpu`` is one of them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PHASES", "MemoryProbe", "available_ram", "resolve_device"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MEMINFO = Path("/proc/meminfo")
PHASES = ("load", "warmup", "predict")


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``; other names pass through.

    On Linux without NVIDIA device nodes the answer is ``cpu`` without importing torch (seconds saved for
    models that never use it).
    """
    if device != "auto":
        return device
    if "torch" not in sys.modules and sys.platform.startswith("linux") and not any(Path("/dev").glob("nvidia[0-9]*")):
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _status_kib(field: str, path: Path = _STATUS) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_ram() -> int | None:
    """Bytes of RAM the kernel says can be allocated without swapping (``MemAvailable``); None if unknown."""
    kib = _status_kib("MemAvailable", _MEMINFO)
    return kib * 1024 if kib is not None else None


def rss_bytes() -> int:
    """The process's resident set size now (``VmRSS``; elsewhere the high-water mark ``ru_maxrss``)."""
    rss = _status_kib("VmRSS")
    return rss * 1024 if rss is not None else _maxrss()


class MemoryProbe:
    """Measures the peak memory a model takes on its devices, counting only its own phases.

    Phases are ``load``, ``warmup`` and ``predict`` (every predict() call is one predict phase):

    - ``load``: the high-water mark during the load above the memory in use before it (the ``baseline``);
      what stays allocated afterwards is the model's ``resident`` footprint;
    - ``warmup`` and ``predict``: ``resident``, plus what earlier predict phases kept (``retained``: a model
      that leaks, or grows a cache, holds more with every call), plus the largest transient of the phase over
      the memory in use when the phase started. Memory other code allocates between the model's phases (a
      metric's embedding model at a gate, say) is not charged to the model; what its own phases keep is, so a
      model leaking 16 MiB a call reports a peak that grows 16 MiB a call, as the process's memory does.

    ``peaks[phase]`` holds the largest value of each phase, ``peak`` the largest of all.

    CPU: the process's resident set (``VmRSS``) and its high-water mark ``VmHWM``, reset through
    ``/proc/self/clear_refs`` at the start of each phase (elsewhere ``ru_maxrss``, not resettable).
    CUDA: ``torch.cuda.memory_allocated`` / ``max_memory_allocated`` with ``reset_peak_memory_stats``, summed
    over the CUDA devices given.
    """

    def __init__(self, devices: str | Sequence[str]) -> None:
        names = [devices] if isinstance(devices, str) else list(devices)
        self.devices: tuple[str, ...] = tuple(dict.fromkeys(names)) or ("cpu",)
        self.device = self.devices[0]
        self.baseline = 0  # in use before the load
        self.resident = 0  # what the loaded model keeps
        self.retained = 0  # what predict phases kept allocated after they ended, summed
        self.peaks: dict[str, int] = dict.fromkeys(PHASES, 0)
        self._phase_start = 0

    @property
    def peak(self) -> int:
        return max(self.peaks.values())

    @property
    def cuda_devices(self) -> tuple[str, ...]:
        if "torch" not in sys.modules:
            return ()
        return tuple(d for d in self.devices if d.startswith("cuda"))

    @property
    def on_cuda(self) -> bool:
        return bool(self.cuda_devices)

    @property
    def counts_rss(self) -> bool:
        """RSS counts when the model sits (partly) on the CPU, or when no CUDA counter can be read."""
        return "cpu" in self.devices or not self.cuda_devices

    def current(self) -> int:
        total = 0
        if self.cuda_devices:
            import torch

            total += sum(int(torch.cuda.memory_allocated(d)) for d in self.cuda_devices)
        if self.counts_rss:
            total += rss_bytes()
        return total

    def _high_water(self) -> int:
        total = 0
        if self.cuda_devices:
            import torch

            for d in self.cuda_devices:
                torch.cuda.synchronize(d)
                total += int(torch.cuda.max_memory_allocated(d))
        if self.counts_rss:
            hwm = _status_kib("VmHWM")
            total += hwm * 1024 if hwm is not None else _maxrss()
        return total

    def _reset(self) -> None:
        if self.cuda_devices:
            import torch

            for d in self.cuda_devices:
                torch.cuda.reset_peak_memory_stats(d)
        if self.counts_rss:
            with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak is then the process's
                _CLEAR_REFS.write_text("5")

    def start(self, phase: str) -> None:
        """Begin ``phase`` (one of :data:`PHASES`): reset the high-water marks, note the memory in use."""
        if phase not in self.peaks:
            raise ValueError(f"unknown phase {phase!r}: one of {', '.join(PHASES)}")
        if phase == "load" and self.counts_rss:
            trim_heap()  # freed-but-resident heap pages would otherwise be reused without raising the RSS
        self._reset()
        self._phase_start = self.current()
        if phase == "load":
            self.baseline = self._phase_start

    def end(self, phase: str) -> int:
        """End ``phase``; returns its peak (bytes above the baseline), also kept in ``peaks[phase]``."""
        high = self._high_water()
        now = self.current()
        if phase == "load":
            value = max(0, high - self.baseline)
            self.resident = max(0, now - self.baseline)
        else:
            value = self.resident + self.retained + max(0, high - self._phase_start)
            if phase == "warmup":  # what warm-up leaves allocated (lazily built buffers) belongs to the model
                self.resident = max(self.resident, now - self.baseline)
            else:
                self.retained += max(0, now - self._phase_start)
        self.peaks[phase] = max(self.peaks[phase], value)
        return value

    # the names of the first version of the probe
    def start_load(self) -> None:
        self.start("load")

    def end_load(self) -> None:
        self.end("load")

    def start_predict(self) -> None:
        self.start("predict")

    def end_predict(self) -> None:
        self.end("predict")


def _maxrss() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage if sys.platform == "darwin" else usage * 1024)


def release_torch_memory() -> None:
    """After a model's references are dropped: collect them, and give cached CUDA blocks back to the driver.

    torch is not imported for this: a process that never imported it has no CUDA cache to empty.
    """
    import gc

    gc.collect()
    trim_heap()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim(0)``; nothing elsewhere).

    After a large buffer is freed, glibc raises its mmap threshold and keeps later frees of that size in the
    heap, resident. Without trimming, a model loaded after another one reuses those pages: its resident-set
    peak reads near zero, and memory never seems to return after an unload.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl): no malloc_trim
        return
