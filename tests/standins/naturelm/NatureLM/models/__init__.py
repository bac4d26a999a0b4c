"""Stand-in for NatureLM.models.NatureLM: from_pretrained / to / eval / generate, answers from the audio."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from NatureLM import label, record


class NatureLM(torch.nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.proj = torch.nn.Linear(2, 2)
        self.llama_tokenizer = SimpleNamespace(pad_token_id=None, eos_token_id=128009, bos_token_id=128000)
        self.llama_model = SimpleNamespace(generation_config=SimpleNamespace(pad_token_id=None))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, **kwargs: Any) -> NatureLM:
        record("from_pretrained", target=str(pretrained_model_name_or_path), kwargs=kwargs)
        config = Path(pretrained_model_name_or_path) / "config.json"
        return cls(json.loads(config.read_text()) if config.is_file() else {})

    @torch.inference_mode()
    def generate(self, samples: dict[str, Any], generate_cfg: Any, prompts: list[str]) -> list[str]:
        raw_wav = samples["raw_wav"]
        record(
            "generate",
            shape=list(raw_wav.shape),
            dtype=str(raw_wav.dtype),
            device=str(raw_wav.device),
            padded=int(samples["padding_mask"].sum()),
            chunk_sizes=samples["audio_chunk_sizes"],
            prompts=prompts,
            same_prompts=prompts == samples["prompt"],
            max_new_tokens=generate_cfg.max_new_tokens,
            num_beams=generate_cfg.num_beams,
            merging_alpha=generate_cfg.merging_alpha,
            pad_token_id=self.llama_model.generation_config.pad_token_id,
            training=self.training,
        )
        return [label(row.numpy()) + "\n" for row in raw_wav.cpu()]
