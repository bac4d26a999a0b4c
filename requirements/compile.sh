#!/usr/bin/env bash
# Regenerates requirements/constraints.txt from pyproject.toml with pip-tools (in the dev extra).
#   bash requirements/compile.sh              keep the pins that still satisfy pyproject.toml, add what is new
#   bash requirements/compile.sh --upgrade    the newest versions pyproject.toml allows (then run the tests!)
# Extra arguments go to pip-compile (e.g. --upgrade-package transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
out=requirements/constraints.txt
# --all-extras: dev pulls all the others; --strip-extras: a constraints file may not name extras;
# --allow-unsafe: pin pip and setuptools too; no index/find-links lines: they belong to the machine's pip config
"$PY" -m piptools compile --quiet --all-extras --strip-extras --allow-unsafe --no-emit-index-url \
  --no-emit-find-links --no-header --output-file "$out" "$@" pyproject.toml
"$PY" - "$out" <<'PYEOF'
import re
import sys

path = sys.argv[1]
lines = open(path, encoding="utf-8").read().splitlines()
body: list[str] = []
skipping = False
for line in lines:
    if skipping and line.startswith("    #"):
        continue  # the "# via" lines of a dropped requirement
    skipping = False
    # the project itself (the extras name it as pytest-audiollm[hf]) and editable lines are not constraints
    if line.startswith(("pytest-audiollm @", "pytest-audiollm==", "-e ")):
        skipping = True
        continue
    # the CPU build's local version (2.13.0+cpu) exists only in this machine's wheel folder; "==2.13.0" matches it
    # there and still names the release elsewhere
    line = re.sub(r"^torch==2\.13\.0\+\w+$", "torch==2.13.0", line)
    body.append(line)
text = "\n".join(body) + "\n"
for bad in ("nvidia-", "triton==", "pytest-audiollm @", "\n-e "):
    if bad in text:
        sys.exit(f"{path}: unexpected {bad!r}: the resolver picked a CUDA torch or kept the project itself")
if "\ntorch==2.13.0\n" not in "\n" + text:
    sys.exit(f"{path}: torch is not pinned as torch==2.13.0")
header = """\
# Exact versions of every package of pytest-audiollm[dev] (all extras), verified together on Python 3.11 with the
# CPU build of torch==2.13.0. .ci/run installs with `pip install -c requirements/constraints.txt ...`.
# Generated from pyproject.toml; do not edit by hand. Regenerate with:
#
#    bash requirements/compile.sh              (or: bash requirements/compile.sh --upgrade)
#
# which runs
#    python -m piptools compile --all-extras --strip-extras --allow-unsafe --no-emit-index-url \\
#      --no-emit-find-links --no-header --output-file requirements/constraints.txt pyproject.toml
# then drops the project's own line and writes torch's pin as torch==2.13.0. See requirements/README.md.
#
"""
open(path, "w", encoding="utf-8").write(header + text)
PYEOF
echo "wrote $out"
