"""``python -m pytest_audiollm COMMAND`` (see :mod:`pytest_audiollm.cli`)."""

from __future__ import annotations

import sys

from pytest_audiollm.cli import main

if __name__ == "__main__":
    sys.exit(main())
