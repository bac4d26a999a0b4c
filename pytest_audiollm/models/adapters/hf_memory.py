"""The memory side of the ``hf:`` adapter: sizes and placement of a checkpoint, known before it is loaded.

:class:`HFMemoryPlan` is the part of :class:`~pytest_audiollm.models.adapters.hf.HFAudioLLM` that answers
``memory_estimate`` and ``plan_placement`` from the checkpoint's files (safetensors headers, config) and, when a
quantized size or a device map is needed, from the model built on the ``meta`` device (no weights read).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.models.checkpoint import DTYPE_BYTES
from pytest_audiollm.models.layout import MetaLayout
from pytest_audiollm.models.memory import available_ram, resolve_device
from pytest_audiollm.models.placement import Gpu, Placement, choose_placement, visible_gpus

if TYPE_CHECKING:
    from pytest_audiollm.models.checkpoint import Checkpoint
    from pytest_audiollm.models.lora import LoraAdapter
    from pytest_audiollm.models.protocol import ModelOptions

__all__ = ["HFMemoryPlan"]

_NEEDED_FOR = "the hf: model adapter"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency("torch", _NEEDED_FOR, extra="hf") from exc
    return torch


def _import_transformers() -> Any:
    _import_torch()
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency("transformers", _NEEDED_FOR, extra="hf") from exc
    return transformers


class HFMemoryPlan:
    """Sizes and placement of an ``hf:`` checkpoint (mixed into HFAudioLLM, which sets the attributes below)."""

    options: ModelOptions
    target: str
    dtype: str
    revision: str | None
    quantize: str
    trust_remote_code: bool
    adapter: LoraAdapter | None
    checkpoint: Checkpoint
    sample_rate: int
    placement: Placement | None
    _planned_for: str | None

    def _model_class(self, transformers: Any) -> Any:
        raise NotImplementedError  # HFAudioLLM's

    def memory_estimate(self) -> int:
        """Bytes of the weights as they will be placed (quantized size when quantized), without reading them.

        The placement planned by :meth:`plan_placement` (the session plans with the budget first); without
        one, a plan with no budget on ``options.device``.
        """
        if self.placement is None:
            self.plan_placement(resolve_device(self.options.device), None)
        assert self.placement is not None
        return self.placement.estimate_bytes

    def dense_estimate(self) -> int:
        """Bytes of the weights in the chosen dtype, unquantized, without reading them.

        In order: the safetensors headers of the weight files on disk; the index's ``metadata.total_size``
        (rescaled from the config's dtype); the parameter count of the model built on the ``meta`` device.
        Also takes the feature extractor's sampling rate from the processor config files.
        """
        rate = self.checkpoint.sample_rate()
        if rate is not None:
            self.sample_rate = rate
        estimate = self.checkpoint.estimate_bytes(self.dtype)
        return estimate if estimate is not None else self._estimate_from_meta()

    def plan_placement(self, device: str, budget: int | None, gpus: Sequence[Gpu] | None = None) -> Placement:
        """Choose (and keep) where and in what precision the model goes; raises BudgetExceeded if nowhere.

        ``gpus`` defaults to the CUDA devices ``device`` names with their free memory; a test passes made-up
        ones. Nothing is loaded: the model is built on the meta device only for quantized sizes and device
        maps. Raises MissingDependency when the plan needs bitsandbytes and it is not installed.
        """
        if gpus is None:
            gpus = visible_gpus(device) if device.startswith("cuda") else []
        layout = MetaLayout(
            self.dense_estimate(),
            dtype=self._dtype_name(),
            build=self._meta_model,
            extra_bytes=self.adapter.weight_bytes if self.adapter is not None else 0,
        )
        placement = choose_placement(
            layout,
            device=device,
            budget=budget,
            quantize=self.quantize,
            gpus=gpus,
            cpu_free=available_ram(),
            name=self.options.name,
        )
        if placement.quantize != "none" and importlib.util.find_spec("bitsandbytes") is None:
            raise MissingDependency("bitsandbytes", f"--audiollm-quantize {placement.quantize}", extra="quantize")
        self.placement, self._planned_for = placement, device
        return placement

    def _dtype_name(self) -> str:
        """The dtype weights are loaded in: ``dtype``, or for ``auto`` the config's (float32 when it names none)."""
        if self.dtype != "auto":
            return self.dtype
        path = self.checkpoint.small_file("config.json")
        try:
            config = json.loads(path.read_text()) if path is not None else {}
        except (OSError, ValueError):
            config = {}
        for source in (config, config.get("text_config") or {}) if isinstance(config, dict) else ():
            stored = source.get("dtype") or source.get("torch_dtype") if isinstance(source, dict) else None
            if stored in DTYPE_BYTES:
                return str(stored)
        return "float32"

    def _remote_code_error(self, exc: ValueError) -> AudioLLMError | None:
        """transformers' refusal to run a checkpoint's own code, reworded to name the plugin's option."""
        if "trust_remote_code" not in str(exc) or self.trust_remote_code:
            return None
        return AudioLLMError(
            f"model '{self.options.name}': the checkpoint ships its own Python code, which transformers runs "
            "only when allowed. If you trust it, pass --audiollm-trust-remote-code (or use a checkpoint "
            f"transformers supports natively). transformers said: {exc}"
        )

    def _model_config(self, transformers: Any) -> Any:
        """The config the model class is built from (``AutoConfig`` of the checkpoint)."""
        try:
            return transformers.AutoConfig.from_pretrained(
                self.target, revision=self.revision, trust_remote_code=self.trust_remote_code
            )
        except ValueError as exc:
            reworded = self._remote_code_error(exc)
            if reworded is None:
                raise
            raise reworded from exc

    def _meta_model(self) -> Any:
        """The model built from :meth:`_model_config` on the ``meta`` device (no memory, no weights read).

        ``_model_class`` is used when it can build from a config (a concrete class, or an Auto class), else
        ``AutoModelForMultimodalLM`` / ``AutoModel``.
        """
        torch = _import_torch()
        transformers = _import_transformers()
        config = self._model_config(transformers)
        cls = self._model_class(transformers)
        with torch.device("meta"):
            if hasattr(cls, "_from_config"):  # a concrete PreTrainedModel class
                return cls(config)
            for auto in (cls, transformers.AutoModelForMultimodalLM, transformers.AutoModel):
                if hasattr(auto, "from_config"):
                    try:
                        return auto.from_config(config, trust_remote_code=self.trust_remote_code)
                    except ValueError:  # this Auto class does not map the config: the next one
                        continue
        raise AudioLLMError(f"model '{self.options.name}': cannot build {cls!r} from its config on the meta device")

    def _estimate_from_meta(self) -> int:
        torch = _import_torch()
        model = self._meta_model()
        target = None if self.dtype == "auto" else getattr(torch, self.dtype)
        total = 0
        for tensor in [*model.parameters(), *model.buffers()]:
            if target is not None and tensor.is_floating_point():
                size = torch.empty((), dtype=target, device="meta").element_size()
            else:
                size = tensor.element_size()
            total += tensor.numel() * size
        return int(total)
