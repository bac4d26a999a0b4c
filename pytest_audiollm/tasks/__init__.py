"""Task kinds: the kinds of evaluation (text answers, generated audio, ...) behind one protocol.

See :mod:`pytest_audiollm.tasks.base` for the protocol and :mod:`pytest_audiollm.tasks.registry` for how kinds
are registered. Each kind lives in its own package (``text``, ``generation``); no kind imports another.
"""

from __future__ import annotations
