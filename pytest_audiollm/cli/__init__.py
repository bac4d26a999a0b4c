"""``python -m pytest_audiollm COMMAND``: ``compare`` two results files, or ``download`` a backbone checkpoint."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

USAGE = (
    "usage: python -m pytest_audiollm compare A.json B.json [--level 0.05] [--seed 0] [--resamples 1000]\n"
    "       python -m pytest_audiollm download NAME [--dest DIR] [--url URL] [--sha256 HEX] [--timeout S]"
)
COMMANDS = (
    "commands:\n"
    "  compare   compare two results files (A = baseline, B = current)\n"
    "  download  download a checkpoint of an embedding backbone (cnn14-16k, cnn14-32k, vggish) into the cache"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + COMMANDS)
        return 0
    if args and args[0] == "compare":
        from pytest_audiollm.cli.compare import main as compare_main

        return _quietly(lambda out: compare_main(args[1:], out=out))
    if args and args[0] == "download":
        from pytest_audiollm.cli.download import download_main

        return download_main(args[1:])
    print(USAGE, file=sys.stderr)
    print(f"error: unknown command {args[0]!r}" if args else "error: a command is required", file=sys.stderr)
    return 2


class _QuietOutput:
    """stdout for a command piped into a reader that may stop early (``| head``): once the pipe is broken, the
    rest of the output is dropped and the command finishes (its exit code still says what it found)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.broken = True


def _quietly(command: Callable[[TextIO], int]) -> int:
    out = _QuietOutput(sys.stdout)
    code = command(out)  # type: ignore[arg-type]
    out.flush()
    if out.broken:  # keep the interpreter's final flush of stdout from raising again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code
