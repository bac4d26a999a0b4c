"""The README's complete conftest.py example works as printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from plugin_helpers import write_tone

README = Path(__file__).resolve().parents[2] / "README.md"

LEVELS_YAML = """\
name: levels
task: classification
data: {format: jsonl, path: levels.jsonl, fields: {audio: audio, reference: label}}
prompt: "Loud or quiet? {choices}"
choices: [loud, quiet]
metrics: [accuracy, exact_match]
thresholds: {exact_match: ">= 0.9"}
"""


def _block_after(heading: str) -> str:
    text = README.read_text()
    start = text.index(heading)
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_readme_hook_example_runs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_block_after("A complete `conftest.py`"))
    pytester.path.joinpath("bench_levels.yaml").write_text(LEVELS_YAML)
    lines = []
    for i, amplitude_freq in enumerate([440.0, 880.0]):
        write_tone(pytester.path / f"loud_{i}.wav", amplitude_freq)
        lines.append(json.dumps({"id": f"loud_{i}", "audio": f"loud_{i}.wav", "label": "loud"}))
    import numpy as np
    import soundfile as sf

    for i in range(2):
        sf.write(pytester.path / f"quiet_{i}.wav", np.full(8000, 0.01 * (i + 1), dtype=np.float32), 16000)
        lines.append(json.dumps({"id": f"quiet_{i}", "audio": f"quiet_{i}.wav", "label": "quiet"}))
    pytester.path.joinpath("levels.jsonl").write_text("\n".join(lines) + "\n")
    result = pytester.runpytest("--audiollm-model", "loudness", "--audiollm-benchmark", "levels", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*levels[[]loudness::gate:exact_match[]] PASSED*", "*exact_match ^  1.0000*"])
