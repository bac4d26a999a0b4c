"""pytest-xdist support: keep each (model, benchmark) run on one worker, in collection order.

A gate aggregates every sample of its run, and the Predictor batches a run's upcoming samples, so a run
must not be split across workers. With the default ``--dist load`` we install a LoadScope scheduler whose
scope is the run (``<collector>::<benchmark>[<model>``); other tests keep one-test scopes, i.e. ordinary
load balancing. Other ``--dist`` modes are left alone (gates then aggregate what ran on their worker).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

_RUN_ITEM = re.compile(r"^(?P<scope>.*\[[^\[\]]*?)::(?:gate:)?[^:\[\]]+\]$")


def run_scope(nodeid: str) -> str:
    match = _RUN_ITEM.match(nodeid)
    return match["scope"] if match else nodeid


class XdistSupport:
    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class RunScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return run_scope(nodeid)

        return RunScopeScheduling(config, log)
