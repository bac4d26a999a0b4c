"""LoRA adapters (peft) on hf-based models: ``--audiollm-adapter PATH``.

:class:`LoraAdapter` checks the adapter directory (``adapter_config.json`` + ``adapter_model.safetensors`` or
``adapter_model.bin``, as ``peft``'s ``save_pretrained`` writes them), digests it for the model's fingerprint
and attaches it to a loaded transformers model with ``model.load_adapter`` (transformers' peft integration;
``PeftModel.from_pretrained`` for models without it). The adapter is not merged: it works on bitsandbytes
8-bit / 4-bit layers too, and adapters the model already had active (a built-in speech LoRA) stay active.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency

__all__ = ["ADAPTER_NAME", "LoraAdapter"]

ADAPTER_NAME = "audiollm_lora"
"""The name the adapter is loaded under. Never ``eval`` or another ``nn.Module`` attribute name: peft keeps
adapters in ``ModuleDict``s keyed by name, and ``load_adapter(..., adapter_name="eval")`` raises KeyError."""
CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class LoraAdapter:
    """A peft LoRA adapter directory, checked when constructed (a user error raises AudioLLMError)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        where = f"--audiollm-adapter {self.path}"
        if not self.path.is_dir():
            raise AudioLLMError(f"{where}: no such directory; pass the folder peft's save_pretrained() wrote")
        self.config_path = self.path / CONFIG_FILE
        try:
            config = json.loads(self.config_path.read_text())
        except OSError:
            raise AudioLLMError(
                f"{where}: {CONFIG_FILE} is missing; this is not a peft adapter directory "
                "(save one with PeftModel.save_pretrained(DIR))"
            ) from None
        except ValueError as exc:
            raise AudioLLMError(f"{where}: {CONFIG_FILE} is not valid JSON ({exc})") from None
        self.config: dict[str, Any] = config if isinstance(config, dict) else {}
        weights = [self.path / name for name in WEIGHT_FILES if (self.path / name).is_file()]
        if not weights:
            raise AudioLLMError(f"{where}: no adapter weights ({' or '.join(WEIGHT_FILES)}) in the directory")
        self.weights_path = weights[0]

    @property
    def weight_bytes(self) -> int:
        """Size of the adapter's weight file: about the memory the adapter adds to the model."""
        return self.weights_path.stat().st_size

    @cached_property
    def digest(self) -> str:
        """sha256 (hex) over ``adapter_config.json`` and the weight file (names and bytes)."""
        digest = hashlib.sha256()
        for path in (self.config_path, self.weights_path):
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
        return digest.hexdigest()

    def attach(self, model: Any) -> Any:
        """``model`` with the adapter loaded under :data:`ADAPTER_NAME` and active (not merged)."""
        try:
            import peft
        except ImportError as exc:
            raise MissingDependency("peft", "--audiollm-adapter (LoRA)", extra="lora") from exc
        try:
            if not hasattr(model, "load_adapter"):
                return peft.PeftModel.from_pretrained(model, str(self.path), adapter_name=ADAPTER_NAME)
            active: list[str] = []
            if getattr(model, "_hf_peft_config_loaded", False):
                active = [a for a in model.active_adapters() if a != ADAPTER_NAME]
            model.load_adapter(str(self.path), adapter_name=ADAPTER_NAME)
            model.set_adapter([*active, ADAPTER_NAME] if active else ADAPTER_NAME)
        except Exception as exc:
            base = self.config.get("base_model_name_or_path") or "unknown"
            raise AudioLLMError(
                f"--audiollm-adapter {self.path}: peft could not attach the adapter to {type(model).__name__} "
                f"({type(exc).__name__}: {exc}). It was trained on {base!r}: use an adapter made for this "
                "model (its target_modules must exist in it)."
            ) from exc
        return model
