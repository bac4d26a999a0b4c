"""``python -m pytest_audiollm compare A.json B.json [--level 0.05] [--seed 0] [--resamples 1000]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = "usage: python -m pytest_audiollm compare A.json B.json [--level 0.05] [--seed 0] [--resamples 1000]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE + "\n\ncommands:\n  compare  compare two results files (A = baseline, B = current)")
        return 0
    if not args or args[0] != "compare":
        print(USAGE, file=sys.stderr)
        print(f"error: unknown command {args[0]!r}" if args else "error: a command is required", file=sys.stderr)
        return 2
    from pytest_audiollm.compare import main as compare_main

    return compare_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
