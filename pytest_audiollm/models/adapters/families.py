"""What differs between the transformers-native audio LLM families: one frozen :class:`FamilySpec` each.

The adapter itself is shared (:mod:`pytest_audiollm.models.adapters.native`); a spec says which checkpoint to load by
default, with which transformers class, how the prompt looks, where the audio goes, how long a clip may be and
what else must be installed. This module is data only (no torch, no transformers): ``--audiollm-list`` and the
README can read it cheaply.

Prompt rendering (:func:`render_prompt`): with a chat template (the processor's, or the checkpoint's
``chat_template.jinja``/``chat_template.json``, else the tokenizer's) the request becomes an optional system turn
plus one user turn holding the audio and the prompt, rendered with ``add_generation_prompt=True``; ``content`` says
whether the template wants the user turn as parts (``[{"type": "audio"}, {"type": "text", ...}]``) or as one string
(``"<audio token>" + prompt``). Without a template (or when ``use_chat_template`` is off, Voxtral) the
documented ``system_turn``/``user_turn`` formats are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["SPECS", "FamilySpec", "conversation", "fallback_prompt"]


@dataclass(frozen=True)
class FamilySpec:
    """One transformers-native family: defaults and the per-model facts the shared adapter needs."""

    name: str  # the registered model name (--audiollm-model NAME)
    title: str
    checkpoint: str  # default hub repo id (override with --audiollm-model-arg path=DIR_OR_REPO)
    model_class: str  # transformers class whose from_pretrained loads the weights
    audio_token: str  # the placeholder the audio features replace (expanded to one token per audio frame)
    user_turn: str  # fallback prompt format of the user turn: {audio} and {prompt}
    system_turn: str = ""  # fallback format of the system turn: {system} ("" = the format has none)
    system_prompt: str = ""  # default system prompt ("" = none); override with system_prompt=...
    content: Literal["parts", "text"] = "parts"  # how the chat template wants the user turn
    use_chat_template: bool = True  # False: always the documented fallback format (Voxtral)
    inputs: Literal["processor", "audio-only"] = "processor"  # processor(text=, audio=) or built by the adapter
    sample_rate: int = 16000
    window: Literal["chunk_length", "max_audio_len", "fixed"] = "fixed"  # where max_audio_seconds comes from
    max_audio_seconds: float | None = None  # for window="fixed" (and the fallback of the other two)
    required_tokens: tuple[str, ...] = ()  # markers of the fallback format that must be single tokens
    tokenizer_audio_token: bool = False  # a tokenizer's own ``audio_token`` wins over ``audio_token`` (processors do)
    adapter_files: tuple[str, ...] = ()  # LoRA weight files that ship with the checkpoint (memory, fingerprint)
    packages: tuple[str, ...] = ()  # optional packages beyond torch + transformers (pip names)
    params_b: float = 0.0  # parameters of the default checkpoint, billions (what is loaded)

    @property
    def bf16_gb(self) -> float:
        """Weights of the default checkpoint in bfloat16, decimal GB (parameters x 2 bytes)."""
        return round(self.params_b * 2, 1)

    @property
    def memory_note(self) -> str:
        return (
            f"{self.checkpoint}: about {self.params_b:g} B parameters, {self.bf16_gb:g} GB of bf16 weights; "
            "add 1-3 GB at run time (CUDA context, KV cache, encoder activations)"
        )


_CHATML_SYSTEM = "<|im_start|>system\n{system}<|im_end|>\n"
_QWEN_AUDIO = "<|audio_bos|>{audio}<|audio_eos|>"
_GRANITE_SYSTEM = (
    "Knowledge Cutoff Date: April 2024.\nYou are Granite, developed by IBM. You are a helpful AI assistant."
)

SPECS: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec(
            name="qwen2-audio",
            title="Qwen2-Audio-7B-Instruct",
            checkpoint="Qwen/Qwen2-Audio-7B-Instruct",
            model_class="Qwen2AudioForConditionalGeneration",
            audio_token="<|AUDIO|>",
            system_turn=_CHATML_SYSTEM,
            user_turn="<|im_start|>user\nAudio 1: " + _QWEN_AUDIO + "\n{prompt}<|im_end|>\n<|im_start|>assistant\n",
            system_prompt="You are a helpful assistant.",  # what the official chat template adds by default
            window="chunk_length",
            max_audio_seconds=30.0,
            params_b=8.4,
        ),
        FamilySpec(
            name="audio-flamingo-3",
            title="Audio Flamingo 3",
            checkpoint="nvidia/audio-flamingo-3-hf",
            model_class="AudioFlamingo3ForConditionalGeneration",
            audio_token="<sound>",
            system_turn=_CHATML_SYSTEM,
            user_turn="<|im_start|>user\n{audio}{prompt}<|im_end|>\n<|im_start|>assistant\n",
            system_prompt="You are a helpful assistant.",  # what the official chat template adds by default
            window="max_audio_len",
            max_audio_seconds=600.0,
            params_b=8.27,
        ),
        FamilySpec(
            name="qwen2.5-omni",
            title="Qwen2.5-Omni-7B (thinker, text output)",
            checkpoint="Qwen/Qwen2.5-Omni-7B",
            model_class="Qwen2_5OmniThinkerForConditionalGeneration",
            audio_token="<|AUDIO|>",
            system_turn=_CHATML_SYSTEM,
            user_turn="<|im_start|>user\n" + _QWEN_AUDIO + "{prompt}<|im_end|>\n<|im_start|>assistant\n",
            system_prompt=(
                "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
                "auditory and visual inputs, as well as generating text and speech."
            ),
            inputs="audio-only",
            tokenizer_audio_token=True,
            window="chunk_length",
            max_audio_seconds=30.0,
            params_b=8.9,
        ),
        FamilySpec(
            name="voxtral",
            title="Voxtral Mini 3B",
            checkpoint="mistralai/Voxtral-Mini-3B-2507",
            model_class="VoxtralForConditionalGeneration",
            audio_token="[AUDIO]",
            user_turn="<s>[INST][BEGIN_AUDIO]{audio}{prompt}[/INST]",
            use_chat_template=False,
            inputs="audio-only",
            required_tokens=("<s>", "[INST]", "[BEGIN_AUDIO]", "[/INST]"),
            window="fixed",
            max_audio_seconds=1800.0,
            params_b=4.68,
        ),
        FamilySpec(
            name="phi-4-multimodal",
            title="Phi-4-multimodal-instruct (speech LoRA)",
            checkpoint="microsoft/Phi-4-multimodal-instruct",
            model_class="Phi4MultimodalForCausalLM",
            audio_token="<|audio|>",
            system_turn="<|system|>{system}<|end|>",
            user_turn="<|user|>{audio}{prompt}<|end|><|assistant|>",
            inputs="audio-only",
            tokenizer_audio_token=True,
            window="fixed",
            max_audio_seconds=1800.0,
            adapter_files=("speech-lora/adapter_model.safetensors",),
            packages=("peft",),
            params_b=5.6,
        ),
        FamilySpec(
            name="granite-speech",
            title="Granite Speech 3.3 8B",
            checkpoint="ibm-granite/granite-speech-3.3-8b",
            model_class="GraniteSpeechForConditionalGeneration",
            audio_token="<|audio|>",
            system_turn="<|start_of_role|>system<|end_of_role|>{system}<|end_of_text|>\n",
            user_turn=(
                "<|start_of_role|>user<|end_of_role|>{audio}{prompt}<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>"
            ),
            system_prompt=_GRANITE_SYSTEM,
            content="text",
            inputs="audio-only",
            tokenizer_audio_token=True,
            window="fixed",
            max_audio_seconds=600.0,
            adapter_files=("adapter_model.safetensors",),
            packages=("peft",),
            params_b=8.7,
        ),
    )
}
"""The six families by registered name."""


def conversation(spec: FamilySpec, prompt: str, system: str, audio_token: str = "") -> list[dict[str, Any]]:
    """The chat of one request: an optional system turn and one user turn (audio, then the prompt)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    if spec.content == "parts":
        user: Any = [{"type": "audio"}, {"type": "text", "text": prompt}]
    else:
        user = (audio_token or spec.audio_token) + prompt
    messages.append({"role": "user", "content": user})
    return messages


def fallback_prompt(spec: FamilySpec, prompt: str, system: str, audio_token: str = "") -> str:
    """The documented prompt format, for checkpoints without a chat template (always for Voxtral)."""
    head = spec.system_turn.format(system=system) if system and spec.system_turn else ""
    return head + spec.user_turn.format(audio=audio_token or spec.audio_token, prompt=prompt)
