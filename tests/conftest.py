from __future__ import annotations

import sys
from pathlib import Path

import numpy.fft  # numpy's submodules with C extensions too: imported lazily, they could first load in a run
import numpy.linalg
import numpy.random  # noqa: F401
import pytest
import soundfile  # noqa: F401
import soxr  # noqa: F401
import yaml  # noqa: F401

# pytester's in-process runs drop the modules a run imported; C extensions such as soxr and torch cannot be
# imported twice in one process, so the ones the plugin uses are imported here, once, by the outer session.
# Tests that load torch models run pytest in a subprocess (pytester.runpytest_subprocess).

sys.path.insert(0, str(Path(__file__).parent))

from plugin_helpers import SineDataset


@pytest.fixture
def sines(pytester: pytest.Pytester) -> SineDataset:
    """A small classification benchmark (low/high tones) and a conftest with a real frequency-reading model."""
    return SineDataset(pytester)
