"""The named model adapters (demo, hf:, transformers-native families, whisper, clap, naturelm, salmonn, openai:).

Each module is imported only when its model is used.
"""

from __future__ import annotations
