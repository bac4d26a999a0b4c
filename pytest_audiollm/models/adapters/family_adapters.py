"""The per-family part of the transformers-native adapters: what four families do differently.

:class:`~pytest_audiollm.models.adapters.native.NativeAudioLLM` serves Qwen2-Audio and Audio Flamingo 3 as they are
(their processors build the inputs). The other four build audio-only inputs themselves and differ in:

- :class:`OmniThinker` (Qwen2.5-Omni): loads only the thinker, also from the official full checkpoint (its
  ``thinker_config`` and ``thinker.*`` weights; talker and token2wav are never loaded); Whisper features padded to
  the extractor's 30 s window, ``((L - 1) // 2 + 1 - 2) // 2 + 1`` audio tokens for ``L`` valid mel frames;
- :class:`Voxtral`: the clip is padded to whole encoder chunks (30 s: 3000 mel frames) stacked along the batch,
  375 audio tokens per chunk (``max_source_positions * hidden_size / intermediate_size`` in general), and the
  Tekken instruct sequence ``<s>[INST][BEGIN_AUDIO][AUDIO]...{prompt}[/INST]`` that mistral-common would encode;
- :class:`Phi4Multimodal`: Phi-4's own feature extractor (torch only) and its speech LoRA, loaded with
  ``model.load_adapter(path, adapter_name="speech", adapter_kwargs={"subfolder": "speech-lora"})`` and made active
  with ``set_adapter("speech")`` (peft);
- :class:`GraniteSpeech`: log-mel features computed with torch (:mod:`pytest_audiollm.models.adapters.granite_features`,
  since transformers' extractor needs torchaudio) and a check that transformers loaded the built-in LoRA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models import checkpoint as ckpt
from pytest_audiollm.models.adapters.families import SPECS
from pytest_audiollm.models.adapters.native import NativeAudioLLM
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

__all__ = ["CLASSES", "GraniteSpeech", "OmniThinker", "Phi4Multimodal", "Voxtral"]


class OmniThinker(NativeAudioLLM):
    """Qwen2.5-Omni: the thinker only, also from the official full checkpoint (talker and token2wav skipped)."""

    def _full_config(self) -> bool:
        data = ckpt._read_json(self.checkpoint.small_file("config.json"))
        return isinstance(data, dict) and "thinker_config" in data

    def _model_config(self, transformers: Any) -> Any:
        config = super()._model_config(transformers)
        return getattr(config, "thinker_config", config)

    def dense_estimate(self) -> int:
        """The thinker's weights only: counted on the meta device when the checkpoint holds the full model."""
        if not self._full_config():
            return super().dense_estimate()
        rate = self.checkpoint.sample_rate()
        if rate is not None:
            self.sample_rate = rate
        return self._estimate_from_meta()

    def _model_class(self, transformers: Any) -> Any:
        cls = super()._model_class(transformers)
        if not self._full_config():
            return cls
        config = self._model_config(transformers)

        class _Thinker:  # the thinker class, given the full checkpoint's thinker config
            @staticmethod
            def from_pretrained(*args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("config", config)
                return cls.from_pretrained(*args, **kwargs)

            @staticmethod
            def from_config(thinker_config: Any, **kwargs: Any) -> Any:
                return cls(thinker_config)

        return _Thinker

    def _features(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        fe = self._processor.feature_extractor
        out = fe(audios, sampling_rate=self.sample_rate, return_attention_mask=True, padding="max_length",
                 return_tensors="pt")  # fmt: skip
        mask = out.pop("attention_mask")
        lengths = (mask.sum(-1) - 1) // 2 + 1
        counts = ((lengths - 2) // 2 + 1).tolist()
        return {"input_features": out["input_features"], "feature_attention_mask": mask}, counts


class Voxtral(NativeAudioLLM):
    """Voxtral: 30 s encoder chunks stacked along the batch, Tekken instruct prompt built here."""

    def _encode(self, texts: Sequence[str], requests: Sequence[Request], counts: Sequence[int]) -> dict[str, Any]:
        """``<s>[INST][BEGIN_AUDIO]`` + ``[AUDIO]`` x count + prompt + ``[/INST]``, assembled as ids.

        Only the prompt goes through the tokenizer: mistral-common's tokenizer (what transformers loads when it is
        installed) encodes marker strings in text as plain text, so they are never written as text here.
        """
        import torch

        tokenizer = self._processor.tokenizer
        bos, inst, begin, audio, end = (
            int(tokenizer.convert_tokens_to_ids(t)) for t in ("<s>", "[INST]", "[BEGIN_AUDIO]", "[AUDIO]", "[/INST]")
        )
        rows = [
            [bos, inst, begin, *([audio] * int(count)), *tokenizer.encode(r.prompt, add_special_tokens=False), end]
            for r, count in zip(requests, counts, strict=True)
        ]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        width = max(len(row) for row in rows)
        ids = [[pad] * (width - len(row)) + row for row in rows]
        mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}

    def _features(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        import torch

        audio_config = self._model.config.audio_config
        positions = int(audio_config.max_source_positions)  # encoder positions per chunk (1500: 30 s)
        fe = self._processor.feature_extractor
        chunk = 2 * positions * int(fe.hop_length)  # samples per chunk (480 000 for the official model)
        ratio = int(audio_config.intermediate_size) // int(audio_config.hidden_size)  # frames per audio token
        chunks, counts = [], []
        for audio in audios:
            out = fe(audio, sampling_rate=self.sample_rate, padding=True, truncation=False,
                     pad_to_multiple_of=chunk, return_tensors="pt")  # fmt: skip
            features = out["input_features"][0]  # [mel, frames], frames a multiple of 2 * positions
            stacked = features.reshape(features.shape[0], -1, 2 * positions).transpose(0, 1)
            chunks.append(stacked)
            counts.append(stacked.shape[0] * (positions // ratio))
        return {"input_features": torch.cat(chunks)}, counts


class Phi4Multimodal(NativeAudioLLM):
    """Phi-4-multimodal with its speech LoRA (``speech-lora/``) loaded by peft and active."""

    adapter_name = "speech"  # not "eval": peft cannot name an adapter after an nn.Module attribute

    def _prepare_model(self, model: Any) -> Any:
        adapter_kwargs: dict[str, Any] = {"subfolder": "speech-lora"}
        if self.revision and not self.checkpoint.is_local:
            adapter_kwargs["revision"] = self.revision
        try:
            model.load_adapter(self.target, adapter_name=self.adapter_name, adapter_kwargs=adapter_kwargs)
        except (OSError, ValueError) as exc:
            raise AudioLLMError(
                f"model '{self.options.name}': could not load the speech LoRA from '{self.target}' (subfolder "
                f"speech-lora/): {exc}. A Phi-4-multimodal checkpoint needs its speech-lora/ folder."
            ) from exc
        model.set_adapter(self.adapter_name)
        return model

    def _features(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        fe = self._processor.feature_extractor
        out = dict(fe(list(audios), sampling_rate=self.sample_rate, return_tensors="pt"))
        return out, [int(n) for n in out["audio_embed_sizes"]]


class GraniteSpeech(NativeAudioLLM):
    """Granite Speech: torch log-mel features, and its built-in LoRA (needs peft when the config says so)."""

    def _check_dependencies(self) -> None:
        data = ckpt._read_json(self.checkpoint.small_file("config.json"))
        if isinstance(data, dict) and not data.get("has_lora_adapter", True):
            return  # a checkpoint without the LoRA does not need peft
        super()._check_dependencies()

    def _prepare_model(self, model: Any) -> Any:
        """Checks that transformers loaded the checkpoint's LoRA (it does so when peft is installed)."""
        expects = getattr(model.config, "has_lora_adapter", False)
        loaded = getattr(model, "_hf_peft_config_loaded", False)
        if expects and not loaded and self.checkpoint.small_file("adapter_config.json") is not None:
            raise AudioLLMError(
                f"model '{self.options.name}': '{self.target}' ships a LoRA adapter (adapter_config.json) but "
                "transformers did not load it; check that peft is installed and importable"
            )
        return model

    def _feature_extractor(self, transformers: Any, kwargs: dict[str, Any]) -> Any:
        from pytest_audiollm.models.adapters.granite_features import GraniteFeatures

        path = self.checkpoint.small_file("preprocessor_config.json") or self.checkpoint.small_file(
            "processor_config.json"
        )
        return GraniteFeatures.from_config_file(path)

    def _features(self, audios: Sequence[Any]) -> tuple[dict[str, Any], list[int]]:
        features: tuple[dict[str, Any], list[int]] = self._processor.feature_extractor(audios)
        return features


CLASSES: dict[str, type[NativeAudioLLM]] = {
    "qwen2.5-omni": OmniThinker,
    "voxtral": Voxtral,
    "phi-4-multimodal": Phi4Multimodal,
    "granite-speech": GraniteSpeech,
}
"""Registered name -> adapter class, for the families that are not plain :class:`NativeAudioLLM`."""


# --- the factories of the named transformers-native models (pytest_audiollm.builtins.NAMED_ADAPTERS) ---


def _make(name: str, options: ModelOptions) -> AudioModel:
    return CLASSES.get(name, NativeAudioLLM)(SPECS[name], options)


def qwen2_audio_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model qwen2-audio``: Qwen/Qwen2-Audio-7B-Instruct."""
    return _make("qwen2-audio", options)


def audio_flamingo_3_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model audio-flamingo-3``: nvidia/audio-flamingo-3-hf."""
    return _make("audio-flamingo-3", options)


def qwen2_5_omni_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model qwen2.5-omni``: the thinker of Qwen/Qwen2.5-Omni-7B (text output)."""
    return _make("qwen2.5-omni", options)


def voxtral_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model voxtral``: mistralai/Voxtral-Mini-3B-2507."""
    return _make("voxtral", options)


def phi4_multimodal_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model phi-4-multimodal``: microsoft/Phi-4-multimodal-instruct with its speech LoRA."""
    return _make("phi-4-multimodal", options)


def granite_speech_factory(options: ModelOptions) -> AudioModel:
    """``--audiollm-model granite-speech``: ibm-granite/granite-speech-3.3-8b."""
    return _make("granite-speech", options)
