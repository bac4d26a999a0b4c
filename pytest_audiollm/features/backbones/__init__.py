"""Audio embedding backbones for the generation metrics: PANNs CNN14 (16/32 kHz) and VGGish, on torch.

Both take the official checkpoints unchanged (same state-dict keys as the reference code):
``Cnn14_16k_mAP=0.438.pth`` / ``Cnn14_mAP=0.431.pth`` (PANNs, ``torch.load(path)["model"]``) and
``vggish-10086976.pth`` (torchvggish). Loading the files (hashes, ``weights_only``) is
:mod:`pytest_audiollm.features.weights`'s job; these modules take a state dict.

Importing this package imports torch (the models are ``torch.nn.Module`` subclasses), so import it lazily,
from the code that computes a metric, never at plugin import time. Without torch it raises
:class:`~pytest_audiollm.errors.MissingDependency`.
"""

from __future__ import annotations

from pytest_audiollm.errors import MissingDependency

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise MissingDependency(
        "torch", "the CNN14/VGGish embedding backbones (FD/FAD/KL/ISc)", extra="generation"
    ) from exc

from pytest_audiollm.features.backbones._common import StateDictMismatch
from pytest_audiollm.features.backbones.cnn14 import CNN14_CONFIGS, Cnn14, Cnn14Config, build_cnn14
from pytest_audiollm.features.backbones.embedders import Cnn14Embedder, Embedder, EmbedOutput, VGGishEmbedder
from pytest_audiollm.features.backbones.vggish import VGGISH_CHECKPOINT_NAME, VGGish, build_vggish, vggish_examples

__all__ = [
    "CNN14_CONFIGS",
    "VGGISH_CHECKPOINT_NAME",
    "Cnn14",
    "Cnn14Config",
    "Cnn14Embedder",
    "EmbedOutput",
    "Embedder",
    "StateDictMismatch",
    "VGGish",
    "VGGishEmbedder",
    "build_cnn14",
    "build_vggish",
    "vggish_examples",
]
