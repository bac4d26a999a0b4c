"""Stand-in for SALMONN's models/salmonn.py (see tests/standins/README.md): from_config / to / eval / generate.

Unlike the real one, generate() runs on CPU (the real code puts its stop token on .cuda()).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch


def record(event: str, **fields: Any) -> None:
    path = os.environ.get("AUDIOLLM_STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, **fields}) + "\n")


def label(wave: np.ndarray, rate: int = 16000) -> str:
    if float(np.abs(wave).max(initial=0.0)) < 1e-4:
        return "None"
    freq = float(np.argmax(np.abs(np.fft.rfft(wave)))) * rate / len(wave)
    return "Green Treefrog" if freq < 1000 else "Lazuli Bunting"


class SALMONN(torch.nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2, 2)
        self.prompt_template = config.get("prompt_template", "")

    @classmethod
    def from_config(cls, config: Any) -> SALMONN:
        paths = {k: config.get(k) for k in ("llama_path", "whisper_path", "beats_path", "ckpt", "prompt_path")}
        record("from_config", paths=paths, exist={k: Path(str(v)).exists() for k, v in paths.items()})
        return cls(config)

    def generate(self, samples: dict[str, Any], generate_cfg: Any, prompts: Any = None) -> list[str]:
        raw_wav, mask = samples["raw_wav"], samples["padding_mask"]
        for prompt in prompts:
            _before, _after = prompt.split("<SpeechHere>")  # the real prompt_wrap splits like this
        record(
            "generate",
            spectrogram=list(samples["spectrogram"].shape),
            raw_wav=list(raw_wav.shape),
            dtype=str(raw_wav.dtype),
            lengths=[int((~row).sum()) for row in mask],
            prompts=prompts,
            max_new_tokens=generate_cfg.get("max_new_tokens", 200),
            num_beams=generate_cfg.get("num_beams", 4),
            autocast=torch.is_autocast_enabled(),
            training=self.training,
        )
        waves = [row[~m].cpu().numpy() for row, m in zip(raw_wav, mask, strict=True)]
        return [f"{label(w)}</s><unk>" for w in waves]  # batch_decode without skip_special_tokens
