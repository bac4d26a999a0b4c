"""Stand-in for NatureLM.processors: a batch of waves and queries in, a [B, rate * max_length_seconds] tensor and
Llama-3 chat prompts out (mono, cut and zero-padded to the window, clamped to [-1, 1])."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from NatureLM import record


@dataclass
class NatureLMAudioProcessor:
    sample_rate: int = 16000
    max_length_seconds: int = 10
    audio_token_placeholder: str = "<Audio><AudioHere></Audio> "
    prompt_template: str = (
        "<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )

    def prepare_audio(self, audio: np.ndarray, input_sr: int) -> torch.Tensor:
        if input_sr != self.sample_rate:
            raise ValueError(f"stand-in cannot resample {input_sr} Hz")
        size = self.sample_rate * self.max_length_seconds
        wave = torch.from_numpy(np.asarray(audio, dtype=np.float32)[:size].copy())
        return torch.clamp(torch.nn.functional.pad(wave, (0, size - len(wave))), -1.0, 1.0)

    def prepare_instruction(self, instruction: str) -> str:
        if self.audio_token_placeholder not in instruction:
            instruction = self.audio_token_placeholder + instruction
        return self.prompt_template.format(prompt=instruction.strip())

    def __call__(
        self, audios: list[np.ndarray], instructions: list[str], input_sample_rates: list[int]
    ) -> tuple[torch.Tensor, list[str]]:
        record("processor", lengths=[len(a) for a in audios], rates=list(input_sample_rates))
        waves = torch.stack([self.prepare_audio(a, r) for a, r in zip(audios, input_sample_rates, strict=True)])
        return waves, [self.prepare_instruction(i) for i in instructions]
