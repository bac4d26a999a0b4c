"""Tiny randomly-initialised transformers models with their processors, built fully offline for tests.

Nothing here downloads anything: the tokenizer is a byte-level BPE built in memory (256 byte symbols, no
merges, plus the model's special tokens) and the feature extractor is constructed from arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A small ChatML template, the same shape as Qwen2-Audio's: each audio part renders as
# "Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>\n" and the processor expands <|AUDIO|> to one token per frame.
QWEN2_AUDIO_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN2_AUDIO_SPECIAL_TOKENS = ("<|im_start|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")


def build_byte_level_tokenizer(
    *, eos_token: str, pad_token: str, special_tokens: tuple[str, ...], chat_template: str
) -> Any:
    """A ``PreTrainedTokenizerFast`` over the 256 byte-level symbols (no merges) plus special tokens."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    tf: Any = transformers  # transformers is only partly typed

    alphabet = sorted(ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=eos_token,
        pad_token=pad_token,
        additional_special_tokens=list(special_tokens),
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def build_tiny_qwen2_audio(dest: Path, *, seed: int = 0) -> Path:
    """Build a tiny random Qwen2-Audio (about 65 K parameters) and its processor, save both into ``dest``.

    The feature extractor uses ``chunk_length=2``: audio windows are 2 s (longer audio is truncated by the
    processor), so the encoder's ``max_source_positions`` is ``2 * 100 / 2 = 100``.
    """
    import torch
    import transformers

    tf: Any = transformers

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = build_byte_level_tokenizer(
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        special_tokens=QWEN2_AUDIO_SPECIAL_TOKENS,
        chat_template=QWEN2_AUDIO_CHAT_TEMPLATE,
    )
    feature_extractor = tf.WhisperFeatureExtractor(feature_size=128, chunk_length=2)
    processor = tf.Qwen2AudioProcessor(
        feature_extractor=feature_extractor, tokenizer=tokenizer, chat_template=QWEN2_AUDIO_CHAT_TEMPLATE
    )
    vocab_size = len(tokenizer)
    audio_id = int(tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    eos_id = int(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    pad_id = int(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    config = tf.Qwen2AudioConfig(
        audio_config={
            "d_model": 16,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 16,
            "encoder_layers": 2,
            "num_mel_bins": 128,
            "max_source_positions": 100,
        },
        text_config={
            "model_type": "qwen2",
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": vocab_size,
            "max_position_embeddings": 512,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
        },
        audio_token_index=audio_id,
    )
    torch.manual_seed(seed)
    model = tf.Qwen2AudioForConditionalGeneration(config)
    model.eval()
    model.generation_config = tf.GenerationConfig(
        max_new_tokens=8, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest
