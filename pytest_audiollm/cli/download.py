"""``python -m pytest_audiollm download NAME``: download (and verify) a backbone checkpoint into the cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_audiollm.features.weights import CheckpointSpec

__all__ = ["download_main"]


def download_main(argv: Sequence[str]) -> int:
    """Download (and verify) one checkpoint; prints its path. Exit codes: 0 saved/present, 1 failed, 2 usage."""
    from pytest_audiollm.errors import AudioLLMError
    from pytest_audiollm.features.weights import CHECKPOINTS, checkpoint_dir, download_checkpoint, file_name_problem

    parser = argparse.ArgumentParser(
        prog="python -m pytest_audiollm download",
        description="Download a checkpoint of an embedding backbone, check its SHA-256 and save it in the "
        f"cache ({checkpoint_dir()}; $AUDIOLLM_CACHE_DIR/checkpoints when set).",
        epilog="known checkpoints: " + ", ".join(f"{s.name} ({s.filename})" for s in CHECKPOINTS.values()),
    )
    parser.add_argument("name", metavar="NAME", help="checkpoint name: " + ", ".join(CHECKPOINTS))
    parser.add_argument("--dest", metavar="DIR", help="directory to save into (default: the cache)")
    parser.add_argument("--url", help="download from this URL instead of the official one (a mirror)")
    parser.add_argument(
        "--sha256",
        metavar="HEX",
        help="expected SHA-256, only for a NAME that is not a known checkpoint (needs --url); "
        "known checkpoints are always checked against their pinned hash",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    args = parser.parse_args(argv)
    custom: CheckpointSpec | None = None
    if args.name in CHECKPOINTS:
        if args.sha256 is not None:
            parser.error(f"{args.name} is a known checkpoint with a pinned SHA-256; --sha256 is not accepted for it")
    elif args.url is None or args.sha256 is None:
        parser.error(f"unknown checkpoint {args.name!r} (known: {', '.join(CHECKPOINTS)}); a file that is not in "
                     "the registry needs both --url and --sha256")  # fmt: skip
    else:
        custom, origin = _custom_spec(args.name, args.url, args.sha256)
    try:
        if custom is not None:  # its file name comes from the URL: it must not leave --dest
            where = f"--dest {args.dest}" if args.dest else f"the cache ({checkpoint_dir()})"
            file_name_problem(custom.filename, origin, where)
        path = download_checkpoint(custom or args.name, cache_dir=args.dest, url=args.url, timeout=args.timeout)
    except AudioLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def _custom_spec(name: str, url: str, sha256: str) -> tuple[CheckpointSpec, str]:
    """A registry-like entry for a file that is not a known checkpoint, named after the URL's last path segment
    (percent-decoded; NAME when the URL ends with ``/``), and where that name came from, for messages. The caller
    refuses a name that is not a plain file name (``..%2Fx``, ``%2Fetc%2Fx``, control characters): it is not
    sanitised. A Content-Disposition header is never read."""
    import re
    import urllib.parse

    from pytest_audiollm.features.weights import CheckpointSpec

    digest = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise SystemExit(f"error: --sha256 must be 64 hex digits, got {sha256!r}")
    segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    filename = urllib.parse.unquote(segment) or name
    origin = "the file name taken from --url (its last path segment, decoded)" if segment else "NAME (the file name)"
    spec = CheckpointSpec(
        name=name, description=name, filename=filename, url=url, sha256=digest, env_var="AUDIOLLM_CHECKPOINT"
    )
    return spec, origin
