"""The ``whisper`` model adapter: OpenAI Whisper through transformers as a speech-recognition baseline.

``--audiollm-model whisper`` transcribes every clip with ``WhisperProcessor`` +
``WhisperForConditionalGeneration`` (greedy decoding, one batched ``generate`` per predict call). Settings come
from ``ModelOptions.extra`` (``--audiollm-model-arg KEY=VALUE``):

- ``path``: a local checkpoint directory or another hub repo (default ``openai/whisper-large-v3``);
- ``revision``: a hub branch, tag or commit (ignored for local directories);
- ``language``: ``auto`` (default: Whisper detects the language of each window, as ``openai-whisper`` and
  transformers do by default), or a code or name Whisper knows (``en``, ``english``, ``de`` ...). Set
  ``language=en`` for English-only benchmarks: detection can pick the wrong language on short or noisy clips;
- ``task``: ``transcribe`` (default) or ``translate`` (speech to English text);
- ``dtype``: ``auto`` (the checkpoint's; large-v3 is stored in float16), ``float32``, ``bfloat16``, ``float16``;
- ``max_new_tokens``: tokens generated per 30 s window (default: half the decoder context, 224 for large-v3,
  ``openai-whisper``'s ``sample_len``); at most the decoder context minus the 4 prompt tokens;
- ``max_audio_seconds`` / ``window_hop_seconds``: the plugin's window length and hop (default: the feature
  extractor's ``chunk_length``, 30 s, without overlap); a window longer than ``chunk_length`` is refused.

The benchmark's prompt is ignored: Whisper takes no instruction (its ``prompt_ids`` are previous-context text,
not a question). Whisper sees at most 30 s (its feature extractor pads or cuts every clip to ``chunk_length``),
so ``max_audio_seconds`` is that length and the plugin sends longer clips as consecutive 30 s windows whose
transcripts are joined with a space (see :mod:`pytest_audiollm.models.windowing`); a word cut by a window boundary may
be lost or garbled. English-only checkpoints (``*.en``) take no language or task: both are then not passed.

The lifecycle (memory estimate from safetensors headers before loading, fingerprint, unload) is the ``hf:``
adapter's (:class:`~pytest_audiollm.models.adapters.hf.HFAudioLLM`), which this class specialises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.models.adapters.hf import HFAudioLLM
from pytest_audiollm.models.checkpoint import DTYPE_BYTES, Checkpoint
from pytest_audiollm.models.protocol import ModelOptions, Request

__all__ = ["DEFAULT_CHECKPOINT", "WhisperASR", "whisper_factory"]

DEFAULT_CHECKPOINT = "openai/whisper-large-v3"
_NEEDED_FOR = "the whisper model adapter"
_TASKS = ("transcribe", "translate")
_PROMPT_TOKENS = 4  # <|startoftranscript|> <|lang|> <|task|> <|notimestamps|>


def _transformers() -> Any:
    try:
        import torch  # noqa: F401 - transformers needs it for the model classes
    except ImportError as exc:
        raise MissingDependency("torch", _NEEDED_FOR, extra="hf") from exc
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency("transformers", _NEEDED_FOR, extra="hf") from exc
    return transformers


def _language(value: Any) -> str | None:
    """The ``language`` setting: None for automatic detection, else the lower-cased code or name."""
    if value is False:  # YAML reads the bare word `no` (Norwegian) as false
        return "no"
    if value is None or value is True:
        return None
    text = str(value).strip().lower().removeprefix("<|").removesuffix("|>")
    return None if text in ("", "auto", "detect", "none") else text


class WhisperASR(HFAudioLLM):
    """Whisper (``WhisperForConditionalGeneration``) as an ASR baseline behind ``--audiollm-model whisper``."""

    max_audio_seconds: float | None = 30.0

    def __init__(self, options: ModelOptions) -> None:
        extra = options.extra
        target = str(extra.get("path") or options.target or DEFAULT_CHECKPOINT)
        self._max_new_tokens_set = "max_new_tokens" in extra
        super().__init__(dataclasses.replace(options, target=target))
        self.checkpoint = Checkpoint(self.target, self.revision, needed_for=_NEEDED_FOR, extra="hf")
        self.language = _language(extra.get("language", "auto"))
        self.task = str(extra.get("task", "transcribe")).strip().lower()
        if self.task not in _TASKS:
            raise AudioLLMError(f"model '{options.name}': task '{self.task}' is not one of {', '.join(_TASKS)}")
        self._multilingual = True

    # -- memory --------------------------------------------------------------------------------------------

    def _estimate_from_meta(self) -> int:
        """Parameter bytes of the model built on the ``meta`` device (weights not on disk yet)."""
        import torch

        transformers = _transformers()
        config = transformers.WhisperConfig.from_pretrained(self.target, **self._pretrained_kwargs())
        with torch.device("meta"):
            model = transformers.WhisperForConditionalGeneration(config)
        per_float = self.checkpoint.config_dtype_bytes() if self.dtype == "auto" else DTYPE_BYTES[self.dtype]
        total = 0
        for tensor in [*model.parameters(), *model.buffers()]:
            size = per_float if tensor.is_floating_point() else tensor.element_size()
            total += tensor.numel() * size
        return int(total)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _pretrained_kwargs(self) -> dict[str, Any]:
        return {"revision": self.revision} if self.revision and not self.checkpoint.is_local else {}

    def _load_processor(self, transformers: Any, kwargs: dict[str, Any]) -> Any:
        return transformers.WhisperProcessor.from_pretrained(self.target, **self._pretrained_kwargs())

    def _model_class(self, transformers: Any) -> Any:
        return transformers.WhisperForConditionalGeneration

    def load(self, device: str) -> None:
        _transformers()
        super().load(device)
        model = self._model
        self._multilingual = bool(getattr(model.generation_config, "is_multilingual", True))
        limit = int(model.config.max_target_positions)
        if not self._max_new_tokens_set:
            self.max_new_tokens = limit // 2
        elif self.max_new_tokens > limit - _PROMPT_TOKENS:
            self.unload()
            raise AudioLLMError(
                f"model '{self.options.name}': max_new_tokens={self.max_new_tokens} does not fit Whisper's decoder "
                f"({limit} positions, {_PROMPT_TOKENS} of them taken by the prompt tokens): use at most "
                f"{limit - _PROMPT_TOKENS}"
            )
        window = self._processor_window(self._processor)
        if window and self.max_audio_seconds and self.max_audio_seconds > window:
            self.unload()
            raise AudioLLMError(
                f"model '{self.options.name}': max_audio_seconds={self.max_audio_seconds:g} is longer than the "
                f"{window:g} s Whisper's feature extractor keeps (it would cut every window silently): use at most "
                f"{window:g}"
            )
        self._check_language()

    def _check_language(self) -> None:
        if self.language is None:
            return
        if not self._multilingual:
            if self.language not in ("en", "english") or self.task != "transcribe":
                self.unload()
                raise AudioLLMError(
                    f"model '{self.options.name}': this Whisper checkpoint is English-only (*.en): it cannot take "
                    f"language '{self.language}' or task '{self.task}'; drop those settings or use a multilingual "
                    "checkpoint"
                )
            return
        from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

        code = TO_LANGUAGE_CODE.get(self.language, self.language)
        known = getattr(self._model.generation_config, "lang_to_id", None) or {}
        if f"<|{code}|>" not in known:
            codes = sorted(token.strip("<|>") for token in known)
            self.unload()
            raise AudioLLMError(
                f"model '{self.options.name}': language '{self.language}' is not one this Whisper checkpoint "
                f"knows; use language=auto or one of: {', '.join(codes) or '(none: the checkpoint has no lang_to_id)'}"
            )

    # -- inference -----------------------------------------------------------------------------------------

    def _model_inputs(self, requests: Sequence[Request]) -> Any:
        """Log-mel features of the batch (padded or cut to the feature extractor's 30 s), on the model's device."""
        features = self._processor.feature_extractor(
            [self._audio(r) for r in requests], sampling_rate=self.sample_rate, return_tensors="pt"
        )["input_features"]
        return {"input_features": features.to(self._device, dtype=self._model.dtype)}

    def _generate_kwargs(self) -> dict[str, Any]:
        kwargs = super()._generate_kwargs()
        if self._multilingual:
            kwargs["task"] = self.task
            if self.language is not None:
                kwargs["language"] = self.language
        return kwargs

    # -- identity ------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``whisper:`` + the checkpoint's content fingerprint + the language and task (they change the output),
        + the quantization and LoRA adapter (:meth:`HFAudioLLM.fingerprint_suffix`)."""
        language = self.language or "auto"
        return f"whisper:{self.checkpoint.fingerprint()}:{language}:{self.task}{self.fingerprint_suffix()}"


def whisper_factory(options: ModelOptions) -> WhisperASR:
    """The factory behind ``--audiollm-model whisper``."""
    return WhisperASR(options)
