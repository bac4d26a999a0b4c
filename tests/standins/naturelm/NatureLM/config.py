"""Stand-in for NatureLM.config: GenerateConfig takes the same keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GenerateConfig:
    max_new_tokens: int
    num_beams: int
    do_sample: bool
    min_length: int
    temperature: float
    repetition_penalty: float
    length_penalty: float
    merging_alpha: float = 1.0
