"""Placement: on which device(s) and in what precision a model's weights go, decided before loading.

Inputs: the size of the weights in the chosen dtype (known without reading them), the memory budget
(``--audiollm-memory-budget``), the devices (the CPU, or GPUs with their free memory; tests pass made-up ones)
and the ``--audiollm-quantize`` setting. Output: a :class:`Placement`: one device, or a ``device_map`` over
several GPUs (and CPU RAM), unquantized or in 8-bit / 4-bit bitsandbytes. Rules (:func:`choose_placement`):

1. The precisions tried are the one asked for (``none``, ``8bit``, ``4bit``), or with ``auto`` ``none`` then
   ``8bit`` then ``4bit``: the first that fits wins. A precision fits when its size is within the budget and
   (on CUDA) within the GPUs' usable memory, :data:`GPU_USABLE_FRACTION` of their free memory.
2. Not on CUDA (``cpu``, ``mps``, or no GPU visible): one device; the budget alone decides.
3. On CUDA: the first GPU with room for the whole model; else a ``device_map`` over the GPUs computed with
   accelerate (``infer_auto_device_map`` on the model built on the meta device, ``no_split_module_classes=
   model._no_split_modules``, GPUs filled in order, their sum capped by the budget).
4. Last, unquantized only (bitsandbytes refuses 8-bit/4-bit maps that mix GPU and CPU): a ``device_map``
   that offloads what the GPUs cannot hold to CPU RAM (within the budget and ``MemAvailable``).
5. Nothing fits: :class:`~pytest_audiollm.errors.BudgetExceeded`, naming the sizes in every precision, the
   limit, and the ``--audiollm-quantize`` setting that would fit (if any).

The budget bounds the model's whole footprint, every device it sits on counted (CPU offload included).
Quantized sizes count what bitsandbytes stores: the weights of the ``nn.Linear`` layers it converts at 1 byte
(8-bit, plus a float32 scale per output row) or half a byte (4-bit NF4, plus a float32 absmax per block of
:data:`BNB_4BIT_BLOCKSIZE`); everything else (embeddings, norms, convolutions, ``lm_head``) stays in the dtype.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_audiollm.errors import BudgetExceeded
from pytest_audiollm.units import format_size

__all__ = [
    "BNB_4BIT_BLOCKSIZE",
    "GPU_USABLE_FRACTION",
    "QUANTIZE_CHOICES",
    "DeviceMap",
    "Gpu",
    "Layout",
    "Placement",
    "choose_placement",
    "visible_gpus",
]

QUANTIZE_CHOICES = ("none", "auto", "8bit", "4bit")
GPU_USABLE_FRACTION = 0.9
"""Part of a GPU's free memory weights may take; the rest is for activations, the KV cache and workspaces."""
BNB_4BIT_BLOCKSIZE = 64
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_LABEL = {"none": "", "8bit": " in 8-bit", "4bit": " in 4-bit"}
_SUMMARY = {"none": "", "8bit": ", 8-bit (bitsandbytes LLM.int8)", "4bit": ", 4-bit NF4 (bitsandbytes)"}


@dataclass(frozen=True)
class Gpu:
    """A CUDA device and its free memory in bytes (``torch.cuda.mem_get_info``, or made up by a test)."""

    index: int
    free_bytes: int

    @property
    def name(self) -> str:
        return f"cuda:{self.index}"


@dataclass(frozen=True)
class DeviceMap:
    """A computed device map: module name -> device (GPU index, ``"cpu"`` or ``"disk"``), bytes per device."""

    modules: dict[str, int | str]
    bytes_per_device: dict[str, int]


class Layout(Protocol):
    """What placement needs to know about a model: its size per precision and how it splits over devices."""

    def size(self, quantize: str) -> int: ...

    def device_map(self, quantize: str, max_memory: Mapping[int | str, int]) -> DeviceMap: ...


@dataclass(frozen=True)
class Placement:
    """Where a model goes. ``device_map`` is None for one device, else what ``from_pretrained`` receives."""

    device: str  # the main device: where inputs go (cpu, cuda:0, ...)
    quantize: str = "none"  # none | 8bit | 4bit
    estimate_bytes: int = 0  # the weights as placed (quantized size when quantized)
    dense_bytes: int = 0  # the weights in the chosen dtype, unquantized
    device_map: dict[str, int | str] | None = None
    max_memory: dict[str, int] | None = None  # the limits the device map was computed under
    bytes_per_device: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def devices(self) -> tuple[str, ...]:
        """Every device the model sits on (the memory probe sums their counters)."""
        return tuple(self.bytes_per_device) if self.device_map else (self.device,)

    def summary(self) -> str:
        """One line for the terminal: ``cpu, 8-bit (...)`` or ``device_map cuda:0 7.1 GiB + cpu 1.0 GiB``."""
        if self.device_map:
            where = " + ".join(f"{d} {format_size(b)}" for d, b in self.bytes_per_device.items())
            return f"device_map {where}{_SUMMARY[self.quantize]}"
        return f"{self.device}{_SUMMARY[self.quantize]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "kind": "device_map" if self.device_map else "device",
            "device": self.device,
            "devices": list(self.devices),
            "quantize": self.quantize,
            "estimate_bytes": self.estimate_bytes,
            "dense_bytes": self.dense_bytes,
            "bytes_per_device": dict(self.bytes_per_device),
            "max_memory": dict(self.max_memory) if self.max_memory else None,
            "reason": self.reason,
        }


def _device_name(device: int | str) -> str:
    return f"cuda:{device}" if isinstance(device, int) else str(device)


def _gpu_caps(gpus: Sequence[Gpu], budget: int | None) -> list[int]:
    """Usable bytes per GPU, filled in order, their sum capped by the budget."""
    left = budget
    caps = []
    for gpu in gpus:
        cap = int(gpu.free_bytes * GPU_USABLE_FRACTION)
        if left is not None:
            cap = max(0, min(cap, left))
            left -= cap
        caps.append(cap)
    return caps


def choose_placement(
    layout: Layout,
    *,
    device: str,
    budget: int | None,
    quantize: str = "none",
    gpus: Sequence[Gpu] = (),
    cpu_free: int | None = None,
    name: str = "model",
) -> Placement:
    """The placement of a model (module docstring: the rules); raises BudgetExceeded when nothing fits.

    ``device`` is the resolved device (``cpu``, ``mps``, ``cuda``, ``cuda:N``); ``gpus`` the CUDA devices to
    use (empty: not on CUDA, or none visible: one device), ``cpu_free`` the RAM CPU offload may take (None:
    unknown, no limit besides the budget).
    """
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize {quantize!r} is not one of {', '.join(QUANTIZE_CHOICES)}")
    order = ("none", "8bit", "4bit") if quantize == "auto" else (quantize,)
    dense = layout.size("none")
    if not (device.startswith("cuda") and gpus):
        for q in order:
            size = layout.size(q)
            if budget is None or size <= budget:
                why = "fits the budget" if budget is not None else "no budget"
                return Placement(device, q, size, dense, reason=f"{why} on {device}")
        raise BudgetExceeded(_too_big(layout, quantize, name, device, f"the memory budget of {_bytes(budget)}", budget))
    caps = _gpu_caps(gpus, budget)
    for q in order:
        size = layout.size(q)
        if budget is not None and size > budget:
            continue
        for gpu in gpus:
            if size <= int(gpu.free_bytes * GPU_USABLE_FRACTION):
                why = f"fits {gpu.name} ({format_size(gpu.free_bytes)} free)"
                return Placement(gpu.name, q, size, dense, reason=why)
        if len(gpus) > 1 and size <= sum(caps):
            max_memory: dict[int | str, int] = {g.index: c for g, c in zip(gpus, caps, strict=True) if c > 0}
            placed = _mapped(layout, q, max_memory, size, dense, "split over GPUs")
            if placed is not None and _gpus_only(placed):
                return placed
    if "none" in order and (budget is None or dense <= budget):
        room = [x for x in (None if budget is None else budget - sum(caps), cpu_free) if x is not None]
        max_memory = {g.index: c for g, c in zip(gpus, caps, strict=True) if c > 0}
        max_memory["cpu"] = max(0, min(room)) if room else dense
        placed = _mapped(layout, "none", max_memory, dense, dense, "GPUs too small: rest offloaded to CPU RAM")
        if placed is not None and "disk" not in placed.bytes_per_device and placed.device != "cpu":
            return placed
    free = ", ".join(f"{g.name} {format_size(g.free_bytes)}" for g in gpus)
    limit = f"the free GPU memory ({free}; {GPU_USABLE_FRACTION:.0%} usable)"
    if budget is not None:
        limit = f"the memory budget of {_bytes(budget)} within {limit}"
    raise BudgetExceeded(_too_big(layout, quantize, name, device, limit, sum(caps)))


def _gpus_only(placement: Placement) -> bool:
    return all(d.startswith("cuda") for d in placement.bytes_per_device)


def _mapped(
    layout: Layout, quantize: str, max_memory: dict[int | str, int], size: int, dense: int, reason: str
) -> Placement | None:
    computed = layout.device_map(quantize, max_memory)
    if not computed.modules:
        return None
    main = next((d for d in computed.bytes_per_device if d.startswith("cuda")), "cpu")
    return Placement(
        device=main,
        quantize=quantize,
        estimate_bytes=size,
        dense_bytes=dense,
        device_map=dict(computed.modules),
        max_memory={_device_name(k): int(v) for k, v in max_memory.items()},
        bytes_per_device=dict(computed.bytes_per_device),
        reason=reason,
    )


def _bytes(size: int | None) -> str:
    return f"{format_size(size)} ({size} bytes)"


def _too_big(layout: Layout, quantize: str, name: str, device: str, limit: str, room: int | None) -> str:
    """The BudgetExceeded message: the sizes, the limit, and the --audiollm-quantize setting that would fit.

    ``room`` is the number of bytes the model may take (None: unknown): a precision that fits it is suggested.
    """
    asked = "none" if quantize == "auto" else quantize
    sizes: dict[str, int] = {}
    for q in ("none", "8bit", "4bit"):
        with contextlib.suppress(Exception):  # a quantized size the layout cannot compute is left out
            sizes[q] = layout.size(q)
    message = (
        f"model {name!r} needs an estimated {_bytes(sizes.get(asked))}{_LABEL[asked]} on {device}, "
        f"more than {limit}: not loaded."
    )
    others = [f"{_bytes(sizes[q])}{_LABEL[q]}" for q in ("8bit", "4bit") if q in sizes and q != asked]
    if others:
        message += " Quantized with bitsandbytes it would need " + " and ".join(others) + "."
    smaller = [q for q in ("8bit", "4bit") if q in sizes and sizes[q] < sizes.get(asked, 0)]
    fitting = [q for q in smaller if room is not None and sizes[q] <= room]
    if quantize != "auto" and fitting:
        message += f" Try --audiollm-quantize {fitting[0]} (or auto, which picks the first precision that fits);"
        return message + " or raise --audiollm-memory-budget, use a larger device, or choose a smaller model."
    if quantize != "auto" and smaller and room is None:
        message += f" Try --audiollm-quantize {smaller[0]} (or auto);"
        return message + " or raise --audiollm-memory-budget, use a larger device, or choose a smaller model."
    message += " It does not fit even with --audiollm-quantize 4bit: raise"
    return message + " --audiollm-memory-budget, use a larger device, or choose a smaller model."


def visible_gpus(device: str) -> list[Gpu]:
    """The GPUs ``device`` names (``cuda``: all visible; ``cuda:N``: that one) with their free memory."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return []
    _, _, index = device.partition(":")
    indices = [int(index)] if index else list(range(torch.cuda.device_count()))
    return [Gpu(i, int(torch.cuda.mem_get_info(i)[0])) for i in indices]
