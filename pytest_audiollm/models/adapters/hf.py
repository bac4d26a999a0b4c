"""The ``hf:`` model adapter: any audio LLM that loads with ``AutoProcessor`` + ``AutoModelForMultimodalLM``.

``--audiollm-model hf:PATH_OR_REPO`` evaluates a transformers audio LLM (Qwen2-Audio at least; any model
whose processor takes ``text=``/``audio=`` and whose class ``AutoModelForMultimodalLM`` resolves). Settings
come from ``ModelOptions.extra``:

- ``dtype``: ``"auto"`` (the checkpoint's dtype, default), ``"float32"``, ``"bfloat16"`` or ``"float16"``;
- ``max_new_tokens``: generation length (default 64);
- ``trust_remote_code``: passed to ``from_pretrained`` (default False; the plugin sets it from
  ``--audiollm-trust-remote-code`` only);
- ``revision``: a hub branch, tag or commit (ignored for local directories);
- ``quantize``: ``none`` (default), ``8bit``, ``4bit`` or ``auto`` (``--audiollm-quantize``): bitsandbytes;
- ``adapter``: a peft LoRA adapter directory (``--audiollm-adapter``), see :mod:`pytest_audiollm.models.lora`.

Placement (:mod:`pytest_audiollm.models.placement`): :meth:`HFAudioLLM.plan_placement` decides, before loading
and from the safetensors headers (plus the model built on the meta device when a quantized size or a device
map is needed), whether the model goes on one device or is split with a ``device_map``, and whether it is
quantized; :meth:`~HFAudioLLM.memory_estimate` returns the planned size, and ``load`` passes ``device_map`` and
``quantization_config=BitsAndBytesConfig(...)`` to ``from_pretrained`` accordingly.

Prompting: each request becomes one user turn holding an audio part and a text part (the request's prompt),
rendered with the processor's chat template (``add_generation_prompt=True``). A processor without a chat
template gets the plain prompt ``<audio token><prompt>`` instead, where the audio token is the processor's
(or tokenizer's) ``audio_token``. Requests are generated as one left-padded batch with greedy decoding; only
the new tokens are decoded. Greedy outputs of a batch are *usually* identical to single-request outputs with
left padding, but this is not guaranteed (padded attention can change floating-point rounding).

torch and transformers are imported only when needed (``load``, ``predict`` and the meta-device fallback of
``memory_estimate``); when they are missing, :class:`~pytest_audiollm.errors.MissingDependency` is raised.
Everything about the checkpoint on disk (locating files, reading safetensors headers, estimating bytes,
fingerprinting) is :class:`~pytest_audiollm.models.checkpoint.Checkpoint`'s job (``self.checkpoint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_audiollm.errors import AudioLLMError, ModelOutputError
from pytest_audiollm.models.adapters.hf_memory import (
    _NEEDED_FOR,
    HFMemoryPlan,
    _import_torch,
    _import_transformers,
)
from pytest_audiollm.models.checkpoint import Checkpoint
from pytest_audiollm.models.lora import LoraAdapter
from pytest_audiollm.models.memory import release_torch_memory
from pytest_audiollm.models.placement import QUANTIZE_CHOICES, Placement
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

__all__ = ["HFAudioLLM", "hf_factory"]

_DTYPES = ("auto", "float32", "bfloat16", "float16")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


class HFAudioLLM(HFMemoryPlan, AudioModel):
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
        self.quantize = str(extra.get("quantize") or "none").strip().lower()
        if self.quantize not in QUANTIZE_CHOICES:
            raise AudioLLMError(
                f"model '{options.name}': quantize '{self.quantize}' is not one of {', '.join(QUANTIZE_CHOICES)}"
            )
        adapter = extra.get("adapter")
        self.adapter: LoraAdapter | None = LoraAdapter(str(adapter)) if adapter else None
        self.sample_rate = 16000
        self.checkpoint = Checkpoint(self.target, self.revision, needed_for=_NEEDED_FOR, extra="hf")
        self.placement: Placement | None = None  # set by plan_placement (memory_estimate plans with no budget)
        self._planned_for: str | None = None
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

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _pretrained_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.revision and not self.checkpoint.is_local:
            kwargs["revision"] = self.revision
        return kwargs

    def load(self, device: str) -> None:
        transformers = _import_transformers()
        kwargs = self._pretrained_kwargs()
        try:
            processor = self._load_processor(transformers, kwargs)
            model = self._prepare_model(self._load_model(transformers, device, kwargs))
        except ValueError as exc:
            reworded = self._remote_code_error(exc)
            if reworded is None:
                raise
            raise reworded from exc
        if self.adapter is not None:
            model = self.adapter.attach(model)
        model.eval()
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"
        feature_extractor = getattr(processor, "feature_extractor", None)
        rate = getattr(feature_extractor, "sampling_rate", None)
        if isinstance(rate, int) and rate > 0:
            self.sample_rate = rate
        # processors that pad/cut to a fixed window (Whisper-style chunk_length, 30 s for Qwen2-Audio) would cut
        # longer clips silently: the plugin sends such clips as windows of that length instead
        window = self.options.extra.get("max_audio_seconds", self._processor_window(processor))
        if window:
            self.max_audio_seconds = float(window)
        hop = self.options.extra.get("window_hop_seconds")
        if hop:
            self.window_hop_seconds = float(hop)
        self._processor = processor
        self._model = model
        self._device = self._placement_for(device).device

    # -- override points for model families (pytest_audiollm.models.adapters.native) ---------------------------------

    def _load_processor(self, transformers: Any, kwargs: dict[str, Any]) -> Any:
        """The processor (feature extractor + tokenizer) of the checkpoint."""
        return transformers.AutoProcessor.from_pretrained(self.target, **kwargs)

    def _model_class(self, transformers: Any) -> Any:
        """The transformers class whose ``from_pretrained`` loads the weights."""
        return transformers.AutoModelForMultimodalLM

    def _placement_for(self, device: str) -> Placement:
        """The planned placement if it was planned for ``device``, else a plan with no budget."""
        if self.placement is not None and self._planned_for == device:
            return self.placement
        return self.plan_placement(device, None)

    def _load_model(self, transformers: Any, device: str, kwargs: dict[str, Any]) -> Any:
        """The model, in the chosen dtype, placed as planned (one device or a device map; maybe quantized)."""
        torch = _import_torch()
        placement = self._placement_for(device)
        dtype: Any = "auto" if self.dtype == "auto" else getattr(torch, self.dtype)
        load_kwargs: dict[str, Any] = dict(kwargs, dtype=dtype)
        load_kwargs["device_map"] = placement.device_map or {"": placement.device}
        if placement.quantize != "none":
            load_kwargs["quantization_config"] = self._bnb_config(transformers, torch, placement.quantize)
        return self._model_class(transformers).from_pretrained(self.target, **load_kwargs)

    def _bnb_config(self, transformers: Any, torch: Any, quantize: str) -> Any:
        """``BitsAndBytesConfig``: LLM.int8 for 8bit; NF4 computing in the dtype for 4bit (no double quant)."""
        if quantize == "8bit":
            return transformers.BitsAndBytesConfig(load_in_8bit=True)
        return transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=getattr(torch, self._dtype_name())
        )

    def _prepare_model(self, model: Any) -> Any:
        """A family's step after loading (e.g. switching on a built-in speech LoRA); returns the model to use."""
        return model

    def _processor_window(self, processor: Any) -> float | None:
        """Seconds of audio the processor pads/cuts every clip to (None: it takes any length)."""
        window = getattr(getattr(processor, "feature_extractor", None), "chunk_length", None)
        return float(window) if window else None

    def unload(self) -> None:
        self._model = None
        self._processor = None
        release_torch_memory()

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

    def _model_inputs(self, requests: Sequence[Request]) -> Any:
        """The processor's batch for ``requests`` (a ``BatchFeature``), on the model's device and dtype."""
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
        return inputs

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        if not requests:
            return []
        if self._model is None or self._processor is None:
            raise ModelOutputError(f"model '{self.options.name}': predict() called before load()")
        inputs = self._model_inputs(requests)
        sequences = self._generate(inputs)
        return self._decode(sequences, inputs)

    def _generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``generate()``: greedy, ``max_new_tokens``, a pad token when the model has none."""
        generate_kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        tokenizer = getattr(self._processor, "tokenizer", self._processor)
        if getattr(self._model.generation_config, "pad_token_id", None) is None:
            pad = getattr(tokenizer, "pad_token_id", None)
            if pad is None:
                pad = getattr(tokenizer, "eos_token_id", None)
            if pad is not None:
                generate_kwargs["pad_token_id"] = pad
        return generate_kwargs

    def _generate(self, inputs: Any) -> Any:
        """Token ids generated for the batch (prompt included for decoder-only models)."""
        torch = _import_torch()
        torch.manual_seed(self.options.seed)
        with torch.inference_mode():
            output = self._model.generate(**inputs, **self._generate_kwargs())
        return getattr(output, "sequences", output)

    def _decode(self, sequences: Any, inputs: Any) -> list[str]:
        """The new tokens of each row as text."""
        if not getattr(self._model.config, "is_encoder_decoder", False):
            sequences = sequences[:, inputs["input_ids"].shape[1] :]
        tokenizer = getattr(self._processor, "tokenizer", self._processor)
        decoded = tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [str(text).strip() for text in decoded]

    # -- identity ------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``hf:`` + the checkpoint's content fingerprint, ``+bnb-8bit``/``+bnb-4bit`` when quantized and
        ``+lora:<sha256>`` (the adapter's digest) with ``--audiollm-adapter``.

        The checkpoint part (:meth:`Checkpoint.fingerprint`) is sha256 over config.json, the weight files' names,
        sizes, headers and sampled bytes, the revision and, for a hub repo, the snapshot commit; computed without
        loading the model or reading all its weights. Where the model sits (one device, a device map) is not
        part of it; the precision is (quantized weights give other outputs).
        """
        return f"hf:{self.checkpoint.fingerprint()}{self.fingerprint_suffix()}"

    def fingerprint_suffix(self) -> str:
        """What the run changes about the weights: ``+bnb-8bit``/``+bnb-4bit``, ``+lora:<sha256>`` (or "").

        Subclasses that write their own fingerprint append this.
        """
        suffix = ""
        quantize = self.placement.quantize if self.placement is not None else self.quantize
        if quantize in ("8bit", "4bit"):
            suffix += f"+bnb-{quantize}"
        if self.adapter is not None:
            suffix += f"+lora:{self.adapter.digest}"
        return suffix

    @property
    def adapter_digest(self) -> str | None:
        """sha256 of the LoRA adapter (config + weights), None without one."""
        return self.adapter.digest if self.adapter is not None else None


def hf_factory(options: ModelOptions) -> HFAudioLLM:
    """The factory behind ``--audiollm-model hf:PATH_OR_REPO``."""
    return HFAudioLLM(options)
