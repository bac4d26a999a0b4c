from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.fft  # numpy's submodules with C extensions too: imported lazily, they could first load in a run
import numpy.linalg
import numpy.random
import pytest
import soundfile  # noqa: F401
import soxr  # noqa: F401
import yaml  # noqa: F401

# pytester's in-process runs drop the modules a run imported; C extensions such as soxr and torch cannot be
# imported twice in one process, so the ones the plugin uses are imported here, once, by the outer session.
# Tests that load torch models run pytest in a subprocess (pytester.runpytest_subprocess).

sys.path.insert(0, str(Path(__file__).parent))

from generation_helpers import RATE, tone
from openai_server import FakeServer, clean_openai_env
from plugin_helpers import SineDataset


@pytest.fixture
def sines(pytester: pytest.Pytester) -> SineDataset:
    """A small classification benchmark (low/high tones) and a conftest with a real frequency-reading model."""
    return SineDataset(pytester)


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy (requests go to 127.0.0.1 directly), no API key and no base URL from the machine's environment."""
    clean_openai_env(monkeypatch)


@pytest.fixture
def chat_server(openai_env: None) -> Iterator[FakeServer]:
    """A chat-completions server on 127.0.0.1 (tests/openai_server.py), answering normally unless scripted."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Random CNN14 (16 kHz) and VGGish checkpoints in the official file layouts, as environment variables."""
    import torch

    from pytest_audiollm.features.backbones import build_cnn14, build_vggish

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    cnn14 = build_cnn14(RATE)
    # BatchNorm statistics measured on tones, as a trained network has them (with random statistics every input
    # gives nearly the same embedding and the distances would all be ~0)
    for module in cnn14.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    calibration = np.stack([tone(f, seed=i) for i, f in enumerate(np.geomspace(100, 4000, 16))])
    cnn14.train()
    with torch.no_grad():
        cnn14(torch.from_numpy(calibration))
    cnn14.eval()
    torch.save({"model": cnn14.state_dict(), "iteration": 0}, root / "Cnn14_16k_mAP=0.438.pth")
    torch.save(build_vggish().state_dict(), root / "vggish-10086976.pth")
    return {
        "AUDIOLLM_CNN14_16K_CHECKPOINT": str(root / "Cnn14_16k_mAP=0.438.pth"),
        "AUDIOLLM_VGGISH_CHECKPOINT": str(root / "vggish-10086976.pth"),
    }


@pytest.fixture(scope="session")
def tiny_qwen2_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Qwen2-Audio checkpoint (config, weights, processor), built once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_models import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny-qwen2-audio"))
