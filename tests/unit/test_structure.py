"""The shape of the package: module sizes, one-way layers, light imports, the docs' tables."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from plugin_helpers import REPO

PACKAGE = REPO / "pytest_audiollm"


def test_no_module_is_over_400_lines() -> None:
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert not {name: n for name, n in sizes.items() if n > 400}


def test_layers_import_one_way() -> None:
    """The import-linter contracts of pyproject.toml (no cycles, no upward imports, kinds independent)."""
    linter = REPO / ".venv" / "bin" / "lint-imports"
    command = [str(linter)] if linter.exists() else [sys.executable, "-m", "importlinter.cli"]
    pytest.importorskip("importlinter")
    done = subprocess.run([*command, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_configuring_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, pytest\n"
        "pytest.main(['--help'], plugins=[])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'scipy', 'librosa', 'sklearn', 'matplotlib', 'jsonschema'))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert "HEAVY []" in done.stdout, done.stdout[-2000:]


def test_markdown_tables_are_not_cut_by_blank_lines() -> None:
    """A blank line inside a table ends it: the rows after it render as text (the README's options table did)."""
    pages = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    for page in pages:
        lines = page.read_text().splitlines()
        for i in range(1, len(lines) - 1):
            row_before, blank, row_after = lines[i - 1], lines[i], lines[i + 1]
            if blank.strip() or not (row_before.startswith("|") and row_after.startswith("|")):
                continue
            second = lines[i + 2] if i + 2 < len(lines) else ""
            starts_a_table = re.match(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$", second) is not None
            assert starts_a_table, f"{page.relative_to(REPO)}:{i + 1}: a blank line cuts a table before {row_after!r}"
