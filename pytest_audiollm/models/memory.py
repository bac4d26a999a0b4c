"""Memory accounting: resident memory on CPU (Linux /proc), allocator counters on CUDA."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


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


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryProbe:
    """Measures the peak memory a model takes on its device, counting only its own phases.

    The footprint is what load + warm-up left resident, plus the largest transient of any predict() call
    over the memory in use when that call started; so memory other code allocates while the model stays
    loaded (a metric's embedding model at a gate, say) is not charged to the model.

    CPU: the process's resident set (``VmRSS``) and its high-water mark ``VmHWM``, reset through
    ``/proc/self/clear_refs`` at the start of each phase (elsewhere ``ru_maxrss``, not resettable).
    CUDA: ``torch.cuda.memory_allocated`` / ``max_memory_allocated`` with ``reset_peak_memory_stats``.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.baseline = 0  # in use before the load
        self.resident = 0  # what the loaded model keeps
        self.peak = 0
        self._phase_start = 0

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda") and "torch" in sys.modules

    def current(self) -> int:
        if self.on_cuda:
            import torch

            return int(torch.cuda.memory_allocated(self.device))
        rss = _status_kib("VmRSS")
        return rss * 1024 if rss is not None else _maxrss()

    def _high_water(self) -> int:
        if self.on_cuda:
            import torch

            return int(torch.cuda.max_memory_allocated(self.device))
        hwm = _status_kib("VmHWM")
        return hwm * 1024 if hwm is not None else _maxrss()

    def _reset(self) -> None:
        if self.on_cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak is then the process's
                _CLEAR_REFS.write_text("5")

    def start_load(self) -> None:
        self._reset()
        self.baseline = self._phase_start = self.current()

    def end_load(self) -> None:
        self.peak = max(self.peak, self._high_water() - self.baseline)
        self.resident = max(0, self.current() - self.baseline)

    def start_predict(self) -> None:
        self._reset()
        self._phase_start = self.current()

    def end_predict(self) -> None:
        transient = max(0, self._high_water() - self._phase_start)
        self.peak = max(self.peak, self.resident + transient)


def _maxrss() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage if sys.platform == "darwin" else usage * 1024)
