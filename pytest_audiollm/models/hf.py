"""The ``hf:`` model adapter: any audio LLM that loads with ``AutoProcessor`` + ``AutoModelForMultimodalLM``.

``--audiollm-model hf:PATH_OR_REPO`` evaluates a transformers audio LLM (Qwen2-Audio at least; any model
whose processor takes ``text=``/``audio=`` and whose class ``AutoModelForMultimodalLM`` resolves). Settings
come from ``ModelOptions.extra``:

- ``dtype``: ``"auto"`` (the checkpoint's dtype, default), ``"float32"``, ``"bfloat16"`` or ``"float16"``;
- ``max_new_tokens``: generation length (default 64);
- ``trust_remote_code``: passed to ``from_pretrained`` (default False);
- ``revision``: a hub branch, tag or commit (ignored for local directories).

Prompting: each request becomes one user turn holding an audio part and a text part (the request's prompt),
rendered with the processor's chat template (``add_generation_prompt=True``). A processor without a chat
template gets the plain prompt ``<audio token><prompt>`` instead, where the audio token is the processor's
(or tokenizer's) ``audio_token``. Requests are generated as one left-padded batch with greedy decoding; only
the new tokens are decoded. Greedy outputs of a batch are *usually* identical to single-request outputs with
left padding, but this is not guaranteed (padded attention can change floating-point rounding).

torch and transformers are imported only when needed (``load``, ``predict`` and the meta-device fallback of
``memory_estimate``); when they are missing, :class:`~pytest_audiollm.errors.MissingDependency` is raised.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency, ModelOutputError
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

__all__ = ["HFAudioLLM", "hf_factory"]

_NEEDED_FOR = "the hf: model adapter"
_DTYPES = ("auto", "float32", "bfloat16", "float16")
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# safetensors dtype codes -> bytes per element
_ST_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_ST_FLOAT = {"F16", "BF16", "F32", "F64"}
# config "dtype"/"torch_dtype" strings -> bytes per element
_CONFIG_DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "float64": 8}
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is treated as unreadable
_FULL_HASH_LIMIT = 64 * 1024 * 1024  # weight files up to this size are hashed whole by fingerprint()
_SAMPLE_CHUNKS = 16
_SAMPLE_CHUNK_BYTES = 64 * 1024


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


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _read_safetensors_header(path: Path) -> bytes | None:
    """The raw header of a safetensors file: 8-byte little-endian length N, then N bytes of JSON."""
    try:
        with path.open("rb") as fh:
            prefix = fh.read(8)
            if len(prefix) != 8:
                return None
            (size,) = struct.unpack("<Q", prefix)
            if size > _MAX_HEADER:
                return None
            header = fh.read(size)
    except OSError:
        return None
    return prefix + header if len(header) == size else None


def _header_bytes_for(header: bytes, dtype: str) -> int:
    """Bytes the tensors of a safetensors header take once loaded in ``dtype`` (``auto``: as stored).

    Floating-point tensors are cast to ``dtype``; integer/bool (and 8-bit float) tensors keep their size.
    """
    meta: dict[str, Any] = json.loads(header[8:])
    total = 0
    for name, info in meta.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        numel = 1
        for dim in info.get("shape", []):
            numel *= int(dim)
        stored = str(info.get("dtype", "F32"))
        if dtype != "auto" and stored in _ST_FLOAT:
            total += numel * _DTYPE_BYTES[dtype]
        else:
            total += numel * _ST_BYTES.get(stored, 4)
    return total


def _hash_weight_sample(digest: Any, path: Path, size: int) -> None:
    """Hash a small file whole; of a large one, ``_SAMPLE_CHUNKS`` evenly spaced chunks (about 1 MiB read).

    Headers alone cannot tell two checkpoints of the same architecture apart (same names, shapes, offsets);
    sampled bytes do (fine-tuning changes every tensor) without reading gigabytes.
    """
    with path.open("rb") as fh:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
            return
        step = size // _SAMPLE_CHUNKS
        for i in range(_SAMPLE_CHUNKS):
            fh.seek(i * step)
            digest.update(fh.read(_SAMPLE_CHUNK_BYTES))


class HFAudioLLM(AudioModel):
    """A transformers audio LLM (``AutoProcessor`` + ``AutoModelForMultimodalLM``) behind ``hf:PATH``."""

    def __init__(self, options: ModelOptions) -> None:
        super().__init__(options)
        self.target = options.target or options.name.removeprefix("hf:")
        if not self.target:
            raise AudioLLMError(f"model '{options.name}': hf: needs a local directory or a hub repo id")
        extra = options.extra
        self.dtype = str(extra.get("dtype", "auto"))
        if self.dtype not in _DTYPES:
            raise AudioLLMError(f"model '{options.name}': dtype '{self.dtype}' is not one of {', '.join(_DTYPES)}")
        self.max_new_tokens = int(extra.get("max_new_tokens", 64))
        if self.max_new_tokens < 1:
            raise AudioLLMError(f"model '{options.name}': max_new_tokens must be at least 1")
        self.trust_remote_code = _as_bool(extra.get("trust_remote_code", False))
        revision = extra.get("revision")
        self.revision: str | None = str(revision) if revision else None
        self.sample_rate = 16000
        self._local = Path(self.target).expanduser()
        self._is_local = self._local.is_dir()
        self._processor: Any = None
        self._model: Any = None
        self._device = "cpu"

    @property
    def model(self) -> Any:
        """The loaded transformers model (None before ``load`` and after ``unload``)."""
        return self._model

    @property
    def processor(self) -> Any:
        """The loaded processor (None before ``load`` and after ``unload``)."""
        return self._processor

    # -- locating files ----------------------------------------------------------------------------------

    def _small_file(self, name: str) -> Path | None:
        """A small metadata file (config, index): from the local dir, else the hub (downloaded if needed)."""
        if self._is_local:
            path = self._local / name
            return path if path.is_file() else None
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise MissingDependency("huggingface_hub", _NEEDED_FOR, extra="hf") from exc
        try:
            return Path(hf_hub_download(self.target, name, revision=self.revision))
        except Exception:  # not in the repo, offline, gated: the caller falls back
            return None

    def _weight_file(self, name: str) -> Path | None:
        """A weight file only if it is already on disk (never downloads gigabytes to read a header)."""
        if self._is_local:
            path = self._local / name
            return path if path.is_file() else None
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        found = try_to_load_from_cache(self.target, name, revision=self.revision)
        return Path(found) if isinstance(found, str) else None

    def _weight_names(self) -> list[str]:
        """Safetensors weight file names: the shards named by the index, else ``model.safetensors``."""
        index = self._small_file("model.safetensors.index.json")
        if index is not None:
            try:
                weight_map = json.loads(index.read_text()).get("weight_map", {})
                return sorted(set(weight_map.values()))
            except (OSError, ValueError):
                pass
        return ["model.safetensors"]

    def _read_sample_rate(self) -> None:
        """Take the feature extractor's sampling rate from the processor config files (no processor built)."""
        for name in ("processor_config.json", "preprocessor_config.json"):
            path = self._small_file(name)
            if path is None:
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            fe = data.get("feature_extractor", data)
            rate = fe.get("sampling_rate") if isinstance(fe, dict) else None
            if isinstance(rate, int) and rate > 0:
                self.sample_rate = rate
                return

    # -- memory --------------------------------------------------------------------------------------------

    def memory_estimate(self) -> int:
        """Bytes of the weights in the chosen dtype, without reading them.

        In order: the safetensors headers of the weight files on disk; the index's ``metadata.total_size``
        (rescaled from the config's dtype); the parameter count of the model built on the ``meta`` device.
        """
        self._read_sample_rate()
        names = self._weight_names()
        headers = [self._weight_file(name) for name in names]
        if headers and all(h is not None for h in headers):
            raw = [_read_safetensors_header(h) for h in headers if h is not None]
            if all(r is not None for r in raw):
                return sum(_header_bytes_for(r, self.dtype) for r in raw if r is not None)
        from_index = self._estimate_from_index()
        if from_index is not None:
            return from_index
        return self._estimate_from_meta()

    def _config_dtype_bytes(self) -> int:
        path = self._small_file("config.json")
        if path is not None:
            try:
                config = json.loads(path.read_text())
            except (OSError, ValueError):
                config = {}
            for source in (config, config.get("text_config") or {}):
                stored = source.get("dtype") or source.get("torch_dtype")
                if isinstance(stored, str) and stored in _CONFIG_DTYPE_BYTES:
                    return _CONFIG_DTYPE_BYTES[stored]
        return 4

    def _estimate_from_index(self) -> int | None:
        index = self._small_file("model.safetensors.index.json")
        if index is None:
            return None
        try:
            total = int(json.loads(index.read_text())["metadata"]["total_size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if self.dtype == "auto":
            return total
        return total // self._config_dtype_bytes() * _DTYPE_BYTES[self.dtype]

    def _estimate_from_meta(self) -> int:
        torch = _import_torch()
        transformers = _import_transformers()
        config = transformers.AutoConfig.from_pretrained(
            self.target, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        with torch.device("meta"):
            model = transformers.AutoModelForMultimodalLM.from_config(config, trust_remote_code=self.trust_remote_code)
        target = None if self.dtype == "auto" else getattr(torch, self.dtype)
        total = 0
        for tensor in [*model.parameters(), *model.buffers()]:
            if target is not None and tensor.is_floating_point():
                size = torch.empty((), dtype=target, device="meta").element_size()
            else:
                size = tensor.element_size()
            total += tensor.numel() * size
        return int(total)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _pretrained_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.revision and not self._is_local:
            kwargs["revision"] = self.revision
        return kwargs

    def load(self, device: str) -> None:
        torch = _import_torch()
        transformers = _import_transformers()
        kwargs = self._pretrained_kwargs()
        processor = transformers.AutoProcessor.from_pretrained(self.target, **kwargs)
        dtype: Any = "auto" if self.dtype == "auto" else getattr(torch, self.dtype)
        model = transformers.AutoModelForMultimodalLM.from_pretrained(self.target, dtype=dtype, **kwargs)
        model.to(device)
        model.eval()
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"
        feature_extractor = getattr(processor, "feature_extractor", None)
        rate = getattr(feature_extractor, "sampling_rate", None)
        if isinstance(rate, int) and rate > 0:
            self.sample_rate = rate
        self._processor = processor
        self._model = model
        self._device = device

    def unload(self) -> None:
        self._model = None
        self._processor = None
        gc.collect()
        try:
            import torch
        except ImportError:
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- inference -----------------------------------------------------------------------------------------

    def _prompt_text(self, prompt: str) -> str:
        processor = self._processor
        if getattr(processor, "chat_template", None):
            conversation = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": prompt}]}]
            text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
            return str(text[0] if isinstance(text, list) else text)
        audio_token = getattr(processor, "audio_token", None) or getattr(
            getattr(processor, "tokenizer", None), "audio_token", None
        )
        if not audio_token:
            raise ModelOutputError(
                f"model '{self.options.name}': its processor has neither a chat template nor an audio_token; "
                "the hf: adapter cannot place the audio in the prompt"
            )
        return f"{audio_token}{prompt}"

    def _audio(self, request: Request) -> Any:
        if request.sample_rate == self.sample_rate:
            return request.audio
        import soxr

        return soxr.resample(request.audio, request.sample_rate, self.sample_rate)

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        if not requests:
            return []
        if self._model is None or self._processor is None:
            raise ModelOutputError(f"model '{self.options.name}': predict() called before load()")
        torch = _import_torch()
        processor, model = self._processor, self._model
        texts = [self._prompt_text(r.prompt) for r in requests]
        inputs = processor(
            text=texts,
            audio=[self._audio(r) for r in requests],
            sampling_rate=self.sample_rate,
            return_tensors="pt",
            padding=True,
        )
        inputs = inputs.to(self._device)
        if model.dtype is not None and model.dtype.is_floating_point:
            inputs = inputs.to(model.dtype)  # only floating tensors (features) are cast
        generate_kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        tokenizer = getattr(processor, "tokenizer", processor)
        if getattr(model.generation_config, "pad_token_id", None) is None:
            pad = getattr(tokenizer, "pad_token_id", None)
            if pad is None:
                pad = getattr(tokenizer, "eos_token_id", None)
            if pad is not None:
                generate_kwargs["pad_token_id"] = pad
        torch.manual_seed(self.options.seed)
        with torch.inference_mode():
            output = model.generate(**inputs, **generate_kwargs)
        sequences = getattr(output, "sequences", output)
        if not getattr(model.config, "is_encoder_decoder", False):
            sequences = sequences[:, inputs["input_ids"].shape[1] :]
        decoded = tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [str(text).strip() for text in decoded]

    # -- identity ------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``hf:`` + sha256 over config.json, the weight files' names, sizes, headers (+ samples), revision.

        Headers hold every tensor's name, dtype, shape and byte offsets, so this changes with the architecture
        and the layout but is computed without reading the weights. Weight files up to 64 MiB are hashed
        whole; larger ones contribute 16 evenly spaced 64 KiB samples (about 1 MiB read per file), enough to
        tell two fine-tunes of one architecture apart. For a hub repo the snapshot's commit (from the cache
        path) is included too, which pins the weights exactly. The local directory's path is not included:
        the same checkpoint copied elsewhere has the same fingerprint.
        """
        digest = hashlib.sha256()
        digest.update(b"target\0" + (self.target if not self._is_local else "local").encode() + b"\0")
        if self.revision:
            digest.update(b"revision\0" + self.revision.encode() + b"\0")
        config = self._small_file("config.json")
        if config is not None:
            digest.update(b"config.json\0" + config.read_bytes() + b"\0")
            snapshot = config.parent
            if not self._is_local and snapshot.parent.name == "snapshots":
                digest.update(b"commit\0" + snapshot.name.encode() + b"\0")
        for name in self._weight_names():
            path = self._weight_file(name)
            if path is None:
                digest.update(b"weights\0" + name.encode() + b"\0missing\0")
                continue
            size = os.path.getsize(path)
            digest.update(b"weights\0" + name.encode() + b"\0" + str(size).encode() + b"\0")
            header = _read_safetensors_header(path)
            if header is not None:
                digest.update(header)
            _hash_weight_sample(digest, path, size)
        if self._is_local:
            for pattern in ("*.bin", "*.pt", "*.pth"):
                for path in sorted(self._local.glob(pattern)):
                    digest.update(path.name.encode() + b"\0" + str(path.stat().st_size).encode() + b"\0")
        return f"hf:{digest.hexdigest()}"


def hf_factory(options: ModelOptions) -> HFAudioLLM:
    """The factory behind ``--audiollm-model hf:PATH_OR_REPO``."""
    return HFAudioLLM(options)
