"""Named transformers-native audio LLMs: ``qwen2-audio``, ``audio-flamingo-3``, ``qwen2.5-omni``, ``voxtral``,
``phi-4-multimodal`` and ``granite-speech``.

One adapter, :class:`NativeAudioLLM` (a specialised ``hf:`` adapter,
:class:`~pytest_audiollm.models.adapters.hf.HFAudioLLM`), serves all six; what differs is a
:class:`~pytest_audiollm.models.adapters.families.FamilySpec` (default checkpoint, transformers class, prompt format,
audio placeholder, window, system prompt, memory) and, for four families, a small subclass in
:mod:`pytest_audiollm.models.adapters.family_adapters` (features, a LoRA, the thinker of a full Omni checkpoint).

==================  ===================================  =========  ============  ============================
name                default checkpoint                   window     bf16 weights  extra packages
==================  ===================================  =========  ============  ============================
qwen2-audio         Qwen/Qwen2-Audio-7B-Instruct         30 s       ~16.8 GB      -
audio-flamingo-3    nvidia/audio-flamingo-3-hf           600 s      ~16.5 GB      -
qwen2.5-omni        Qwen/Qwen2.5-Omni-7B (thinker only)  30 s       ~17.8 GB      -
voxtral             mistralai/Voxtral-Mini-3B-2507       1800 s     ~9.4 GB       - (no mistral-common needed)
phi-4-multimodal    microsoft/Phi-4-multimodal-instruct  1800 s     ~11.2 GB      peft (speech LoRA)
granite-speech      ibm-granite/granite-speech-3.3-8b    600 s      ~17.4 GB      peft (built-in LoRA)
==================  ===================================  =========  ============  ============================

"window" is ``max_audio_seconds``: longer clips reach the model as consecutive windows whose answers are joined
(:mod:`pytest_audiollm.models.windowing`). Qwen2-Audio and Qwen2.5-Omni take the feature extractor's
``chunk_length`` (their processors cut there silently), Audio Flamingo 3 its processor's ``max_audio_len`` (it
windows up to that itself); the others a fixed length (see the docs). Memory is the weights alone; add 1-3 GB at
run time.

Settings (``--audiollm-model-arg KEY=VALUE``; ``NAME.KEY=VALUE`` applies to the model NAME only, e.g.
``voxtral.path=/models/voxtral``, so one session can point several named models at different checkpoints):

- ``path``: a local checkpoint directory or another hub repo id (default: the family's official repo);
- ``revision``: a hub branch, tag or commit (ignored for local directories);
- ``system_prompt``: replaces the family's default system prompt (an empty value removes it);
- the ``hf:`` adapter's other settings (``dtype``, ``max_new_tokens``, ``max_audio_seconds``,
  ``window_hop_seconds``, ...): greedy decoding, one left-padded batch per predict call, new tokens decoded.

Prompts: the chat template of the checkpoint (processor template, else tokenizer template) renders an optional system
turn and one user turn (audio, then the benchmark's prompt) with ``add_generation_prompt=True``; without one, the
documented format of :mod:`pytest_audiollm.models.adapters.families` (always for Voxtral, whose template lives in
mistral-common). Inputs come from the checkpoint's processor (``processor(text=..., audio=...)``: Qwen2-Audio, Audio
Flamingo 3) or, where the processor cannot run audio-only here (Qwen2.5-Omni's and Phi-4's need torchvision for their
image/video parts, Voxtral's mistral-common, Granite's torchaudio), are built the way those processors build them:
features from the feature extractor, the audio placeholder repeated once per audio token, then the tokenizer. The
fingerprint is ``NAME:CHECKPOINT:sha256`` (CHECKPOINT: the repo id, ``@revision`` when given, or ``local:DIRNAME``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency, ModelOutputError
from pytest_audiollm.models import checkpoint as ckpt
from pytest_audiollm.models.adapters.families import FamilySpec, conversation, fallback_prompt
from pytest_audiollm.models.adapters.hf import HFAudioLLM
from pytest_audiollm.models.adapters.hf_memory import _import_transformers
from pytest_audiollm.models.protocol import ModelOptions, Request

__all__ = ["AudioOnlyProcessor", "NativeAudioLLM", "resolve_options"]


def resolve_options(spec: FamilySpec, options: ModelOptions) -> ModelOptions:
    """``options`` with ``NAME.KEY`` settings applied and ``target`` set to the checkpoint to load."""
    prefix = spec.name + "."
    extra = {k: v for k, v in options.extra.items() if not k.startswith(prefix)}
    extra.update({k[len(prefix) :]: v for k, v in options.extra.items() if k.startswith(prefix)})
    raw = str(extra.get("path") or options.target or spec.checkpoint).strip()
    target = str(Path(raw).expanduser()) if raw.startswith("~") else raw
    looks_local = target.startswith(("/", ".", "~")) or Path(target).exists()
    if looks_local and not Path(target).is_dir():
        raise AudioLLMError(
            f"model '{options.name}': path '{raw}' is not a directory. Give a local checkpoint directory "
            f"(config.json, weights, tokenizer) or a hub repo id such as '{spec.checkpoint}' with "
            f"--audiollm-model-arg {spec.name}.path=..."
        )
    return dataclasses.replace(options, target=target, extra=extra)


def _template_file(checkpoint: ckpt.Checkpoint) -> str | None:
    """The processor-level chat template of a checkpoint (``chat_template.jinja``, else ``chat_template.json``)."""
    path = checkpoint.small_file("chat_template.jinja")
    if path is not None:
        return path.read_text()
    data = ckpt._read_json(checkpoint.small_file("chat_template.json"))
    template = data.get("chat_template") if isinstance(data, dict) else None
    return template if isinstance(template, str) else None


def _file_digest(path: Path) -> bytes:
    """Header and sampled bytes of a weight file (whole when small), as Checkpoint.fingerprint reads them."""
    digest = hashlib.sha256(path.name.encode() + b"\0" + str(path.stat().st_size).encode())
    for block in ckpt._weight_sample(path, path.stat().st_size):
        digest.update(block)
    return digest.digest()


@dataclasses.dataclass
class AudioOnlyProcessor:
    """The parts of a processor that audio-only inputs need (the plugin never sends images or video)."""

    tokenizer: Any
    feature_extractor: Any  # has ``sampling_rate`` (and ``chunk_length`` for Whisper-style extractors)
    chat_template: str | None = None


class NativeAudioLLM(HFAudioLLM):
    """A transformers-native family behind its registered name (see the module docstring)."""

    spec: FamilySpec

    def __init__(self, spec: FamilySpec, options: ModelOptions) -> None:
        self.spec = spec
        super().__init__(resolve_options(spec, options))
        self.sample_rate = spec.sample_rate
        system = self.options.extra.get("system_prompt")
        self.system_prompt = spec.system_prompt if system is None else str(system)
        self._tokens_checked = False
        self.checkpoint = ckpt.Checkpoint(
            self.target, self.revision, needed_for=f"the {spec.name} model adapter", extra="hf"
        )

    # -- loading --------------------------------------------------------------------------------------------

    def _check_dependencies(self) -> None:
        """The family's optional packages (``spec.packages``), before anything is loaded."""
        import importlib.util

        for package in self.spec.packages:
            try:
                found = importlib.util.find_spec(package) is not None
            except (ImportError, ValueError):
                found = False
            if not found:  # peft comes with the lora extra, whose transformers cap keeps the two compatible
                raise MissingDependency(package, f"the {self.spec.name} model adapter",
                                        extra="lora" if package == "peft" else None)  # fmt: skip

    def _load_processor(self, transformers: Any, kwargs: dict[str, Any]) -> Any:
        self._check_dependencies()
        if self.spec.inputs == "processor":
            return super()._load_processor(transformers, kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(self.target, **kwargs)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        template = _template_file(self.checkpoint) or getattr(tokenizer, "chat_template", None)
        return AudioOnlyProcessor(tokenizer, self._feature_extractor(transformers, kwargs), template or None)

    def _feature_extractor(self, transformers: Any, kwargs: dict[str, Any]) -> Any:
        return transformers.AutoFeatureExtractor.from_pretrained(self.target, **kwargs)

    def _model_class(self, transformers: Any) -> Any:
        return getattr(transformers, self.spec.model_class)

    def _processor_window(self, processor: Any) -> float | None:
        if self.spec.window == "chunk_length":
            return super()._processor_window(processor) or self.spec.max_audio_seconds
        if self.spec.window == "max_audio_len":
            window = getattr(processor, "max_audio_len", None)
            return float(window) if window else self.spec.max_audio_seconds
        return self.spec.max_audio_seconds

    # -- memory and identity ----------------------------------------------------------------------------------

    def _adapter_paths(self) -> list[Path]:
        paths = [self.checkpoint.weight_file(name) for name in self.spec.adapter_files]
        return [p for p in paths if p is not None]

    def dense_estimate(self) -> int:
        """The base weights (see ``hf:``) plus the LoRA weight files that ship with the checkpoint, when on disk."""
        total = super().dense_estimate()
        for path in self._adapter_paths():
            header = ckpt._read_safetensors_header(path)
            if header is not None:
                total += ckpt._header_bytes_for(header, self.dtype)
        return total

    def checkpoint_label(self) -> str:
        """How the fingerprint names the checkpoint: the repo id (``@revision``) or ``local:DIRNAME``."""
        if self.checkpoint.is_local:
            return f"local:{Path(self.target).resolve().name}"
        return f"{self.target}@{self.revision}" if self.revision else self.target

    def fingerprint(self) -> str:
        """``NAME:CHECKPOINT:sha256`` over the checkpoint (see ``hf:``), its LoRA files and the system prompt,
        then ``hf:``'s suffix (``+bnb-8bit``/``+bnb-4bit`` when quantized, ``+lora:<sha256>`` with an adapter)."""
        digest = hashlib.sha256(self.checkpoint.fingerprint().encode())
        for path in self._adapter_paths():
            digest.update(_file_digest(path))
        digest.update(b"system\0" + self.system_prompt.encode())
        return f"{self.spec.name}:{self.checkpoint_label()}:{digest.hexdigest()}{self.fingerprint_suffix()}"

    # -- inputs -----------------------------------------------------------------------------------------------

    @property
    def audio_token(self) -> str:
        """The placeholder: the tokenizer's ``audio_token`` where the family's processor uses it, else the spec's."""
        if self.spec.tokenizer_audio_token:
            token = getattr(getattr(self._processor, "tokenizer", None), "audio_token", None)
            if isinstance(token, str) and token:
                return token
        return self.spec.audio_token

    def _chat_template(self) -> str | None:
        if not self.spec.use_chat_template:
            return None
        template = getattr(self._processor, "chat_template", None)
        return template if isinstance(template, str) and template else None

    def _prompt_text(self, prompt: str) -> str:
        """The request's prompt as the model's text: the chat template, else the documented format."""
        template = self._chat_template()
        if template is None:
            return fallback_prompt(self.spec, prompt, self.system_prompt, self.audio_token)
        messages = conversation(self.spec, prompt, self.system_prompt, self.audio_token)
        renderer = self._processor if self.spec.inputs == "processor" else self._processor.tokenizer
        text = renderer.apply_chat_template(
            messages, chat_template=template, add_generation_prompt=True, tokenize=False
        )
        return str(text[0] if isinstance(text, list) else text)

    def _features(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        """Model inputs computed from the audio, and how many audio tokens each clip becomes."""
        raise AudioLLMError(
            f"model family {self.spec.name!r} declares inputs={self.spec.inputs!r}, but {type(self).__name__} does "
            "not compute audio features: override _features in its class (see family_adapters.py)"
        )

    def _model_inputs(self, requests: Sequence[Request]) -> Any:
        """The batch for ``requests`` (a ``BatchFeature``), on the model's device and dtype."""
        transformers = _import_transformers()
        texts = [self._prompt_text(r.prompt) for r in requests]
        audios = [self._audio(r) for r in requests]
        if self.spec.inputs == "processor":
            # padding goes to the text only: Whisper-style extractors must keep padding every clip to their window
            inputs = self._processor(
                text=texts, audio=audios, sampling_rate=self.sample_rate, return_tensors="pt",
                text_kwargs={"padding": True},
            )  # fmt: skip
        else:
            self._check_tokens()
            features, counts = self._features(audios)
            inputs = transformers.BatchFeature(data={**self._encode(texts, requests, counts), **features})
        inputs = inputs.to(self._device)
        if self._model.dtype is not None and self._model.dtype.is_floating_point:
            inputs = inputs.to(self._model.dtype)  # only floating tensors (features) are cast
        return inputs

    def _check_tokens(self) -> None:
        """The audio placeholder (and the format's markers) are single tokens; the placeholder is the model's.

        A tokenizer that does not know them would split them into text silently and the model would see no audio.
        """
        if self._tokens_checked:
            return
        tokenizer, config = self._processor.tokenizer, self._model.config
        expected = getattr(config, "audio_token_id", None)
        if expected is None:
            expected = getattr(getattr(config, "audio_config", None), "audio_token_id", None)
        unknown = {None, getattr(tokenizer, "unk_token_id", None)}
        for token in (*self.spec.required_tokens, self.audio_token):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id in unknown:
                raise ModelOutputError(
                    f"model '{self.options.name}': the tokenizer of '{self.target}' has no {token!r} token, which "
                    f"the {self.spec.name} prompt format needs; is this a {self.spec.title} checkpoint?"
                )
        audio_id = tokenizer.convert_tokens_to_ids(self.audio_token)
        if expected is not None and audio_id != expected:
            raise ModelOutputError(
                f"model '{self.options.name}': the tokenizer maps {self.audio_token!r} to id {audio_id} but the "
                f"model's config expects audio at id {expected}; the tokenizer and the weights do not belong together"
            )
        self._tokens_checked = True

    def _encode(self, texts: Sequence[str], requests: Sequence[Request], counts: Sequence[int]) -> dict[str, Any]:
        """``input_ids`` and ``attention_mask`` (left-padded) of the prompts with their placeholders expanded."""
        expanded = [self._expand(text, count) for text, count in zip(texts, counts, strict=True)]
        tokenizer = self._processor.tokenizer
        encoded = tokenizer(expanded, padding=True, return_tensors="pt")  # as the processors call it
        return dict(encoded)

    def _expand(self, text: str, count: int) -> str:
        """The prompt with its one audio placeholder repeated ``count`` times (one per audio token)."""
        token = self.audio_token
        if text.count(token) != 1:
            raise ModelOutputError(
                f"model '{self.options.name}': the rendered prompt must hold the audio placeholder {token!r} "
                f"exactly once, found {text.count(token)}; check the chat template, the prompt and system_prompt"
            )
        return text.replace(token, token * int(count))
