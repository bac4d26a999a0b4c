"""Tiny randomly-initialised Whisper and CLAP checkpoints, built fully offline for tests.

Both are saved with ``save_pretrained`` into a directory that the ``whisper`` / ``clap`` adapters (and
:class:`~pytest_audiollm.models.clap_score.ClapScorer`) load with ``path=DIR``; nothing is downloaded.

- Whisper: a byte-level BPE (256 byte symbols, no merges, as in ``tiny_models.py``) wrapped in transformers'
  ``WhisperTokenizer``, plus Whisper's special tokens in the real vocabulary order (``<|endoftext|>``,
  ``<|startoftranscript|>``, the 100 language tokens ``<|en|>`` ..., ``<|translate|>``, ``<|transcribe|>``,
  ``<|startoflm|>``, ``<|startofprev|>``, ``<|nospeech|>``, ``<|notimestamps|>``) so that
  ``generate(language=..., task=...)`` and language detection work. The generation config carries the
  ``lang_to_id`` / ``task_to_id`` / ``no_timestamps_token_id`` maps real checkpoints ship, and suppresses the
  special tokens (except ``<|endoftext|>``) so that the random model's output decodes to text. The feature extractor
  uses ``chunk_length=2`` (2 s windows; the encoder's ``max_source_positions`` is ``2 * 100 / 2 = 100``).
- CLAP: the HTSAT audio tower and RoBERTa-style text tower at hidden size 32, with a byte-level tokenizer and a
  ``ClapFeatureExtractor(feature_size=64, max_length_s=2)`` (64 mel bins are required by the fusion path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WHISPER_SPECIAL_AFTER_LANGUAGES = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)


def _byte_vocab() -> dict[str, int]:
    from tokenizers.pre_tokenizers import ByteLevel

    return {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}


def build_tiny_whisper(dest: Path, *, seed: int = 0, chunk_length: int = 2) -> Path:
    """Build a tiny random Whisper (about 30 K parameters) with its processor; save both into ``dest``."""
    import torch
    import transformers
    from tokenizers import AddedToken
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tf: Any = transformers

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = tf.WhisperTokenizer(vocab=_byte_vocab(), merges=[])
    specials = ["<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES), *WHISPER_SPECIAL_AFTER_LANGUAGES]
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    ids = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in ["<|endoftext|>", *specials]}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    assert ids["<|en|>"] == sot + 1, "language tokens must follow <|startoftranscript|> (WhisperTokenizer relies on it)"
    feature_extractor = tf.WhisperFeatureExtractor(feature_size=80, chunk_length=chunk_length)
    processor = tf.WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    config = tf.WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        max_source_positions=chunk_length * 100 // 2,
        max_target_positions=64,
        decoder_start_token_id=sot,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
    )
    torch.manual_seed(seed)
    model = tf.WhisperForConditionalGeneration(config)
    model.eval()
    model.generation_config = tf.GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=64,
        do_sample=False,
        begin_suppress_tokens=[eot],
        # a random model would often emit language/task tokens, which decode to nothing: only text and <|endoftext|>
        suppress_tokens=[ids[t] for t in specials],
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
    )
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_tiny_clap(dest: Path, *, seed: int = 0, fusion: bool = False, max_length_s: int = 2) -> Path:
    """Build a tiny random CLAP (about 60 K parameters) with its processor; save both into ``dest``.

    ``fusion`` builds the fused variant (``enable_fusion=True`` and a feature extractor with
    ``truncation="fusion"``); by default it is the unfused one (``truncation="rand_trunc"``), like
    ``laion/clap-htsat-unfused``.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tf: Any = transformers

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # RoBERTa's order: <s>=0, <pad>=1 (the text tower's padding_idx must be below max_position_embeddings)
    specials = ("<s>", "<pad>", "</s>", "<unk>")
    vocab = {**{t: i for i, t in enumerate(specials)}, **{c: i + len(specials) for c, i in _byte_vocab().items()}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    pad_id = int(tokenizer.convert_tokens_to_ids("<pad>"))
    feature_extractor = tf.ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=48000,
        max_length_s=max_length_s,
        truncation="fusion" if fusion else "rand_trunc",
        padding="repeatpad",
        frequency_min=50,
        frequency_max=14000,
    )
    processor = tf.ClapProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    config = tf.ClapConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "max_position_embeddings": 128,
            "projection_dim": 16,
            "pad_token_id": pad_id,
        },
        audio_config={
            "window_size": 4,
            "num_mel_bins": 64,
            "spec_size": 128,
            "patch_size": 2,
            "patch_stride": 2,
            "num_attention_heads": [2, 2],
            "hidden_size": 32,
            "depths": [1, 1],
            "patch_embeds_hidden_size": 16,
            "projection_dim": 16,
            "enable_fusion": fusion,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = tf.ClapModel(config)
    model.eval()
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest
