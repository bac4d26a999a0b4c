"""``python -m pytest_audiollm compare A.json B.json``: table, flipped samples and exit codes (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from plugin_helpers import SineDataset

TONES_30 = [(f"low_{i:03d}", 200.0 + 20 * i, "low") for i in range(1, 16)] + [
    (f"high_{i:03d}", 1500.0 + 100 * i, "high") for i in range(1, 16)
]


def compare(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_audiollm", "compare", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compare_cli_table_flips_and_exit_codes(sines: SineDataset) -> None:
    sines.write(tones=TONES_30)
    root = sines.root
    sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-results", "a.json", "-q")
    sines.pytester.runpytest("--audiollm-model", "deaf", "--audiollm-results", "b.json", "-q")

    worse = compare(root, "a.json", "b.json", "--resamples", "200")
    assert worse.returncode == 1, worse.stdout + worse.stderr
    out = worse.stdout
    assert "metric" in out and "p-value" in out and "verdict" in out
    accuracy_line = next(line for line in out.splitlines() if line.startswith("accuracy"))
    assert "1.0000" in accuracy_line and "0.5000" in accuracy_line and "-0.5000" in accuracy_line
    assert "mcnemar" in accuracy_line and "REGRESSED" in accuracy_line and "3.052e-05" in accuracy_line
    assert "accuracy right -> wrong (15):" in out
    assert "high_007: A 'high'  |  B 'low'" in out
    assert "regressed significantly in B" in out

    better = compare(root, "b.json", "a.json", "--resamples", "200")
    assert better.returncode == 0, better.stdout + better.stderr
    assert "accuracy wrong -> right (15):" in better.stdout and "no significant regression" in better.stdout

    same = compare(root, "a.json", "a.json", "--resamples", "50", "--seed", "7", "--level", "0.01")
    assert same.returncode == 0 and "REGRESSED" not in same.stdout and "right -> wrong" not in same.stdout

    # another plugin's metric: values only, said so
    doc = json.loads((root / "b.json").read_text())
    doc["runs"][0]["metrics"]["plugin_metric"] = {"value": 0.4, "higher_is_better": True, "version": "1"}
    (root / "b2.json").write_text(json.dumps(doc))
    doc["runs"][0]["metrics"]["plugin_metric"]["value"] = 0.6
    (root / "a2.json").write_text(json.dumps(doc))
    plugin = compare(root, "a2.json", "b2.json", "--resamples", "50")
    assert plugin.returncode == 0
    assert "values only" in plugin.stdout and "no significance test" in plugin.stdout

    # usage errors: exit 2
    assert compare(root, "a.json").returncode == 2
    assert compare(root, "a.json", "b.json", "--level", "7").returncode == 2
    missing = compare(root, "a.json", "nope.json")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (root / "junk.json").write_text("[1, 2]")
    assert "not a pytest-audiollm results file" in compare(root, "a.json", "junk.json").stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "pytest_audiollm", "frobnicate"], check=False, capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "usage" in unknown.stderr

    doc = json.loads((root / "b.json").read_text())
    doc["runs"][0]["data_checksum"] = "0" * 64
    (root / "other_data.json").write_text(json.dumps(doc))
    mismatch = compare(root, "a.json", "other_data.json")
    assert mismatch.returncode == 2 and "data checksum" in mismatch.stdout
