"""MetaLayout: a model's sizes per precision and its device maps, from its structure on the meta device.

No weights are read or allocated: the structure comes from the model class built on the meta device, the sizes
from the checkpoint's safetensors headers, and accelerate plans the device maps. What
:func:`~pytest_audiollm.models.placement.choose_placement` needs of a model (the ``Layout`` protocol).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pytest_audiollm.models.placement import (
    _DTYPE_BYTES,
    BNB_4BIT_BLOCKSIZE,
    QUANTIZE_CHOICES,
    DeviceMap,
    _device_name,
)

__all__ = ["MetaLayout"]


@dataclass(frozen=True)
class _LinearStats:
    weights: int  # elements of the weights bitsandbytes converts
    rows: int  # their output rows (one 8-bit scale each)
    blocks: int  # their 4-bit absmax blocks
    names: frozenset[str]  # the converted modules


@contextlib.contextmanager
def _quiet_accelerate() -> Iterator[None]:
    """accelerate warns "Device 0 is not available" for every made-up GPU: expected when planning."""
    logger = logging.getLogger("accelerate")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class MetaLayout:
    """Sizes and device maps of a model built on the meta device (no weights read or allocated).

    ``dense_bytes`` is the size of the weights in ``dtype`` (from the checkpoint's safetensors headers);
    ``build`` returns the model on the meta device and is called only when a quantized size or a device map is
    needed. ``extra_bytes`` (a LoRA adapter's weights, say) are added to every size.
    """

    def __init__(self, dense_bytes: int, *, dtype: str, build: Callable[[], Any], extra_bytes: int = 0) -> None:
        if dtype not in _DTYPE_BYTES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_DTYPE_BYTES)}")
        self.dense_bytes = dense_bytes
        self.dtype = dtype
        self.extra_bytes = extra_bytes
        self._build = build

    @cached_property
    def model(self) -> Any:
        return self._build()

    @cached_property
    def linear(self) -> _LinearStats:
        """The ``nn.Linear`` layers bitsandbytes converts: not ``lm_head`` / tied / ``_keep_in_fp32_modules``."""
        import torch

        skip = _modules_not_converted(self.model)
        weights = rows = blocks = 0
        names = set()
        for module_name, module in self.model.named_modules():
            if type(module) is not torch.nn.Linear or not _converted(module_name, skip):
                continue
            numel = module.weight.numel()
            weights += numel
            rows += module.out_features
            blocks += -(-numel // BNB_4BIT_BLOCKSIZE)
            names.add(module_name)
        return _LinearStats(weights, rows, blocks, frozenset(names))

    def size(self, quantize: str) -> int:
        if quantize in ("none", "auto"):
            return self.dense_bytes + self.extra_bytes
        stats = self.linear
        rest = self.dense_bytes - stats.weights * _DTYPE_BYTES[self.dtype]
        if quantize == "8bit":
            return rest + stats.weights + 4 * stats.rows + self.extra_bytes
        if quantize == "4bit":
            return rest + -(-stats.weights // 2) + 4 * stats.blocks + self.extra_bytes
        raise ValueError(f"quantize {quantize!r} is not one of {', '.join(QUANTIZE_CHOICES)}")

    def _dtypes(self, quantize: str) -> tuple[Any, dict[str, Any] | None]:
        """accelerate's ``dtype`` and ``special_dtypes``: quantized Linear weights narrow, the rest in dtype."""
        import torch

        dense = getattr(torch, self.dtype)
        if quantize in ("none", "auto"):
            return dense, None
        from accelerate.utils import CustomDtype

        narrow = torch.int8 if quantize == "8bit" else CustomDtype.INT4
        converted = self.linear.names
        special = {
            name: dense
            for name, _ in self.model.named_parameters()
            if not (name.endswith(".weight") and name.removesuffix(".weight") in converted)
        }
        return narrow, special

    def device_map(self, quantize: str, max_memory: Mapping[int | str, int]) -> DeviceMap:
        from accelerate import infer_auto_device_map
        from accelerate.utils import compute_module_sizes

        dtype, special = self._dtypes(quantize)
        no_split = sorted(getattr(self.model, "_no_split_modules", None) or [])
        with _quiet_accelerate():
            modules = infer_auto_device_map(
                self.model,
                max_memory=dict(max_memory),
                no_split_module_classes=no_split,
                dtype=dtype,
                special_dtypes=special,
            )
            sizes = compute_module_sizes(self.model, dtype=dtype, special_dtypes=special)
        per_device: dict[str, int] = {}
        for module, where in sorted(modules.items(), key=lambda item: _device_rank(item[1])):
            key = _device_name(where)
            per_device[key] = per_device.get(key, 0) + int(sizes.get(module, 0))
        return DeviceMap(dict(modules), per_device)


def _device_rank(device: int | str) -> tuple[int, int]:
    """GPUs by index, then mps, cpu, disk: the order devices are listed in."""
    if isinstance(device, int):
        return (0, device)
    return (1, ("mps", "cpu", "disk").index(device) if device in ("mps", "cpu", "disk") else 3)


def _modules_not_converted(model: Any) -> list[str]:
    """transformers' own list (tied and output embeddings, the last module) + ``_keep_in_fp32_modules``."""
    keep = list(getattr(model, "_keep_in_fp32_modules", None) or [])
    try:
        from transformers.quantizers.base import get_keys_to_not_convert

        return [*get_keys_to_not_convert(model), *keep]
    except Exception:  # another transformers version: the output embeddings at least
        output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        return [n for n, m in model.named_modules() if output is not None and m is output] + keep


def _converted(module_name: str, skip: Sequence[str]) -> bool:
    try:
        from transformers.quantizers.quantizers_utils import should_convert_module

        return bool(should_convert_module(module_name, list(skip)))
    except ImportError:
        return not any(module_name == s or module_name.startswith(s + ".") or module_name.endswith(s) for s in skip)
