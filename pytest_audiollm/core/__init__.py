"""The pytest-facing engine: collection, items, outcomes, baseline gates, fixtures.

It knows the TaskKind protocol, never a specific kind: every task-specific decision is the kind's. This is the
one place where records become pytest outcomes, JUnit properties and results rows (:mod:`.items`).
"""

from __future__ import annotations
