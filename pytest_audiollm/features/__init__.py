"""Audio features shared by task kinds: the front end of generation metrics (presets, clips), the embedding
networks (CNN14, VGGish) with their checkpoints, spectrograms, and the on-disk embedding cache."""

from __future__ import annotations
