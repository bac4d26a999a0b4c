"""Tiny randomly-initialised checkpoints of the six transformers-native families, built fully offline.

Each ``build_tiny_*`` function writes a directory shaped like the official checkpoint (``config.json``, weights,
tokenizer, feature extractor config, chat template) with a model of a few ten thousand parameters, so the named
adapters (``qwen2-audio``, ``audio-flamingo-3``, ``qwen2.5-omni``, ``voxtral``, ``phi-4-multimodal``,
``granite-speech``) can be run against it with ``--audiollm-model-arg <name>.path=DIR``. Nothing is downloaded:
tokenizers are byte-level BPEs built in memory (256 byte symbols, no merges, plus the family's special tokens).

Extras that exercise the real code paths:

- Phi-4-multimodal gets a random ``speech-lora/`` subfolder written by peft (as in the official repo);
- Granite Speech gets a random top-level LoRA adapter (``has_lora_adapter=True``, as in the official repo), and
  its feature-extractor config is written by hand (transformers' extractor cannot be built without torchaudio);
- Qwen2.5-Omni can be saved either as a bare thinker or in the official full-model layout (``thinker.*`` weights
  under a ``Qwen2_5OmniConfig``), which the adapter loads with the thinker class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models import build_tiny_qwen2_audio

__all__ = [
    "BUILDERS",
    "build_tiny_audio_flamingo_3",
    "build_tiny_granite_speech",
    "build_tiny_phi4_multimodal",
    "build_tiny_qwen2_5_omni",
    "build_tiny_qwen2_audio",
    "build_tiny_voxtral",
]

# ChatML with a default system turn; audio parts render as the family's placeholder (AF3: "<sound>", Omni:
# "<|audio_bos|><|AUDIO|><|audio_eos|>"); the shape of the official templates, trimmed to audio + text.
_CHATML = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nSYSTEM<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}AUDIO{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
AF3_CHAT_TEMPLATE = _CHATML.replace("SYSTEM", "You are a helpful assistant.").replace("AUDIO", "<sound>")
OMNI_CHAT_TEMPLATE = _CHATML.replace("SYSTEM", "You are a helpful assistant.").replace(
    "AUDIO", "<|audio_bos|><|AUDIO|><|audio_eos|>"
)
# Granite 3.x style: string contents, "<|start_of_role|>ROLE<|end_of_role|>TEXT<|end_of_text|>\n".
GRANITE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|start_of_role|>{{ message['role'] }}<|end_of_role|>{{ message['content'] }}<|end_of_text|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}"
)
# Phi-4 style: "<|user|><|audio|>{prompt}<|end|><|assistant|>".
PHI4_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio|>{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_TEXT = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}


def _tokenizer(
    *,
    eos: str,
    pad: str,
    specials: tuple[str, ...],
    chat_template: str | None = None,
    bos: str | None = None,
    named: dict[str, str] | None = None,
) -> Any:
    """A byte-level BPE (256 symbols, no merges) plus ``specials``; ``named`` become ``tokenizer.<name>``."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    tf: Any = transformers
    alphabet = sorted(ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    kwargs: dict[str, Any] = {"eos_token": eos, "pad_token": pad, "additional_special_tokens": list(specials)}
    if bos:
        kwargs["bos_token"] = bos
    if named:
        kwargs["extra_special_tokens"] = named
    tokenizer = tf.PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)
    missing = [t for t in specials if tokenizer.convert_tokens_to_ids(t) is None]  # dropped when named is given
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [int(tokenizer.convert_tokens_to_ids(t)) for t in tokens]


def _finish(model: Any, dest: Path, eos_id: int, pad_id: int) -> None:
    import transformers

    model.eval()
    model.generation_config = transformers.GenerationConfig(
        max_new_tokens=8, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(str(dest))


def _qwen2_text(vocab: int, eos: int, pad: int) -> dict[str, Any]:
    return {"model_type": "qwen2", **_TEXT, "num_key_value_heads": 2, "vocab_size": vocab,
            "max_position_embeddings": 512, "eos_token_id": eos, "pad_token_id": pad}  # fmt: skip


def build_tiny_audio_flamingo_3(dest: Path, *, seed: int = 0) -> Path:
    """Audio Flamingo 3 (about 45 K parameters): 2 s Whisper windows, at most 10 s (5 windows) per clip."""
    import torch
    import transformers

    tf: Any = transformers
    dest = Path(dest)
    tok = _tokenizer(
        eos="<|im_end|>", pad="<|endoftext|>", specials=("<|im_start|>", "<sound>"), chat_template=AF3_CHAT_TEMPLATE
    )
    fe = tf.WhisperFeatureExtractor(feature_size=128, chunk_length=2)
    processor = tf.AudioFlamingo3Processor(fe, tok, chat_template=AF3_CHAT_TEMPLATE, max_audio_len=10)
    sound, eos, pad = _ids(tok, "<sound>", "<|im_end|>", "<|endoftext|>")
    config = tf.AudioFlamingo3Config(
        audio_config={"hidden_size": 16, "num_attention_heads": 4, "intermediate_size": 16, "num_hidden_layers": 2,
                      "num_mel_bins": 128, "max_source_positions": 100},
        text_config=_qwen2_text(len(tok), eos, pad),
        audio_token_id=sound,
    )  # fmt: skip
    torch.manual_seed(seed)
    _finish(tf.AudioFlamingo3ForConditionalGeneration(config), dest, eos, pad)
    processor.save_pretrained(dest)
    return dest


_OMNI_NAMED = {
    "audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}  # fmt: skip


def build_tiny_qwen2_5_omni(dest: Path, *, seed: int = 0, full_layout: bool = False) -> Path:
    """The Qwen2.5-Omni thinker (about 110 K parameters) with a 2 s Whisper window.

    ``full_layout=True`` saves it the way the official repo stores it: a ``Qwen2_5OmniConfig`` (thinker, talker
    and token2wav configs) and the thinker's weights under ``thinker.`` in the pre-v5 key layout.
    """
    import torch
    import transformers
    from safetensors.torch import save_file

    tf: Any = transformers
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    specials = ("<|im_start|>", *_OMNI_NAMED.values())
    tok = _tokenizer(
        eos="<|im_end|>", pad="<|endoftext|>", specials=specials, chat_template=OMNI_CHAT_TEMPLATE, named=_OMNI_NAMED
    )
    fe = tf.WhisperFeatureExtractor(feature_size=128, chunk_length=2)
    audio, abos, aeos, image, video, vbos, veos, start, eos, pad = _ids(
        tok, "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>", "<|IMAGE|>", "<|VIDEO|>", "<|vision_bos|>",
        "<|vision_eos|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    )  # fmt: skip
    thinker = tf.Qwen2_5OmniThinkerConfig(
        audio_config={"d_model": 32, "encoder_attention_heads": 4, "encoder_ffn_dim": 32, "encoder_layers": 2,
                      "num_mel_bins": 128, "max_source_positions": 1500, "n_window": 100, "output_dim": 32},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 4, "patch_size": 14,
                       "spatial_merge_size": 1, "temporal_patch_size": 2, "out_hidden_size": 32,
                       "intermediate_size": 32},
        text_config={"vocab_size": len(tok), **_TEXT, "num_key_value_heads": 2, "max_position_embeddings": 4096,
                     "eos_token_id": eos, "pad_token_id": pad,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]}},
        audio_token_index=audio, image_token_index=image, video_token_index=video, audio_start_token_id=abos,
        audio_end_token_id=aeos, vision_start_token_id=vbos, vision_end_token_id=veos, user_token_id=start,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = tf.Qwen2_5OmniThinkerForConditionalGeneration(thinker)
    if not full_layout:
        _finish(model, dest, eos, pad)
    else:
        # pre-v5 names: thinker.audio_tower.*, thinker.visual.*, thinker.model.* (text), thinker.lm_head.*
        renames = (
            ("model.audio_tower.", "audio_tower."),
            ("model.visual.", "visual."),
            ("model.language_model.", "model."),
        )
        weights = {}
        for key, tensor in model.state_dict().items():
            for old, new in renames:
                if key.startswith(old):
                    key = new + key[len(old) :]
                    break
            weights[f"thinker.{key}"] = tensor.contiguous()
        save_file(weights, str(dest / "model.safetensors"), metadata={"format": "pt"})
        full = tf.Qwen2_5OmniConfig(thinker_config=thinker.to_dict(), enable_audio_output=False)
        full.save_pretrained(dest)
    tok.save_pretrained(dest)
    fe.save_pretrained(dest)
    (dest / "chat_template.jinja").write_text(OMNI_CHAT_TEMPLATE)
    return dest


def build_tiny_voxtral(dest: Path, *, seed: int = 0) -> Path:
    """Voxtral (about 50 K parameters): 0.64 s encoder chunks (64 mel frames), 8 audio tokens per chunk.

    The official repo ships a Tekken tokenizer (``tekken.json``); this one is a byte-level BPE with the same
    special tokens, which is all the adapter needs (it builds the Tekken instruct sequence itself).
    """
    import torch
    import transformers

    tf: Any = transformers
    dest = Path(dest)
    tok = _tokenizer(bos="<s>", eos="</s>", pad="<pad>", specials=("[INST]", "[/INST]", "[AUDIO]", "[BEGIN_AUDIO]"))
    fe = tf.WhisperFeatureExtractor(feature_size=128)
    audio, bos, eos, pad = _ids(tok, "[AUDIO]", "<s>", "</s>", "<pad>")
    config = tf.VoxtralConfig(
        audio_config={"hidden_size": 16, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "num_mel_bins": 128, "max_source_positions": 32},
        text_config={"vocab_size": len(tok), **_TEXT, "num_key_value_heads": 2, "head_dim": 8,
                     "max_position_embeddings": 1024, "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad},
        audio_token_id=audio,
    )  # fmt: skip
    torch.manual_seed(seed)
    _finish(tf.VoxtralForConditionalGeneration(config), dest, eos, pad)
    tok.save_pretrained(dest)
    fe.save_pretrained(dest)
    return dest


def build_tiny_phi4_multimodal(dest: Path, *, seed: int = 0, lora: bool = True) -> Path:
    """Phi-4-multimodal (about 125 K parameters) plus a random peft ``speech-lora/`` subfolder (rank 4)."""
    import torch
    import transformers

    tf: Any = transformers
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    named = {"image_token": "<|image|>", "audio_token": "<|audio|>"}
    tok = _tokenizer(
        bos="<|endoftext|>",
        eos="<|end|>",
        pad="<|endoftext|>",
        specials=("<|user|>", "<|assistant|>", "<|system|>", "<|image|>", "<|audio|>"),
        chat_template=PHI4_CHAT_TEMPLATE,
        named=named,
    )
    image, audio, bos, eos = _ids(tok, "<|image|>", "<|audio|>", "<|endoftext|>", "<|end|>")
    config = tf.Phi4MultimodalConfig(
        vocab_size=len(tok), **_TEXT, num_key_value_heads=2, max_position_embeddings=4096,
        original_max_position_embeddings=4096, bos_token_id=bos, pad_token_id=bos, eos_token_id=eos,
        audio_config={"hidden_size": 32, "intermediate_size": 32, "num_blocks": 2, "num_attention_heads": 4,
                      "ext_pw_out_channel": 32, "depthwise_separable_out_channel": 32, "nemo_conv_channels": 32,
                      "input_size": 80, "time_reduction": 8, "audio_token_id": audio},
        vision_config={"hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "image_size": 56, "patch_size": 14, "crop_size": 56, "image_token_id": image},
    )  # fmt: skip
    torch.manual_seed(seed)
    model = tf.Phi4MultimodalForCausalLM(config)
    _finish(model, dest, eos, bos)
    tok.save_pretrained(dest)
    tf.Phi4MultimodalFeatureExtractor().save_pretrained(dest)
    if lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed + 1)
        lora_config = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=r"model\.layers\.\d+\.((self_attn\.(qkv|o)_proj)|(mlp\.(gate_up|down)_proj))",
            init_lora_weights=False,  # random A and B: the adapter really changes the outputs
        )
        get_peft_model(model, lora_config).save_pretrained(dest / "speech-lora")
    return dest


GRANITE_FEATURES = {"n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80, "projector_window_size": 15,
                    "projector_downsample_rate": 5, "sampling_rate": 16000}  # fmt: skip


def build_tiny_granite_speech(dest: Path, *, seed: int = 0, lora: bool = True) -> Path:
    """Granite Speech (about 120 K parameters) with a random top-level LoRA adapter, as the official repo has.

    Features are 80-bin log-mels stacked in pairs (160 per frame); every 15 encoder frames give 3 audio tokens.
    """
    import torch
    import transformers

    tf: Any = transformers
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(
        eos="<|end_of_text|>",
        pad="<|pad|>",
        specials=("<|start_of_role|>", "<|end_of_role|>", "<|audio|>"),
        chat_template=GRANITE_CHAT_TEMPLATE,
        named={"audio_token": "<|audio|>"},
    )
    audio, eos, pad = _ids(tok, "<|audio|>", "<|end_of_text|>", "<|pad|>")
    config = tf.GraniteSpeechConfig(
        text_config={"model_type": "granite", "vocab_size": len(tok), **_TEXT, "num_key_value_heads": 2,
                     "max_position_embeddings": 1024, "eos_token_id": eos, "pad_token_id": pad, "bos_token_id": eos},
        encoder_config={"input_dim": 160, "num_layers": 2, "hidden_dim": 32, "feedforward_mult": 2, "num_heads": 4,
                        "dim_head": 8, "output_dim": 8},
        projector_config={"model_type": "blip_2_qformer", "hidden_size": 32, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "intermediate_size": 64, "encoder_hidden_size": 32},
        audio_token_index=audio,
        has_lora_adapter=lora,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = tf.GraniteSpeechForConditionalGeneration(config)
    _finish(model, dest, eos, pad)
    if lora:  # adapter_config.json + adapter_model.safetensors next to the base weights, as in the official repo
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed + 1)
        lora_config = LoraConfig(
            r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)", init_lora_weights=False
        )
        get_peft_model(model, lora_config).save_pretrained(str(dest))
    tok.save_pretrained(dest)
    # transformers' GraniteSpeechFeatureExtractor needs torchaudio even to be built: write its config by hand
    feature_config = {"feature_extractor_type": "GraniteSpeechFeatureExtractor", **GRANITE_FEATURES,
                      "processor_class": "GraniteSpeechProcessor"}  # fmt: skip
    (dest / "preprocessor_config.json").write_text(json.dumps(feature_config, indent=2))
    return dest


BUILDERS = {
    "qwen2-audio": build_tiny_qwen2_audio,
    "audio-flamingo-3": build_tiny_audio_flamingo_3,
    "qwen2.5-omni": build_tiny_qwen2_5_omni,
    "voxtral": build_tiny_voxtral,
    "phi-4-multimodal": build_tiny_phi4_multimodal,
    "granite-speech": build_tiny_granite_speech,
}
"""Registered adapter name -> builder of its tiny checkpoint (each ``(dest: Path, *, seed=0) -> Path``)."""
