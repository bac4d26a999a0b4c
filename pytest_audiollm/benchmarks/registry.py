"""The benchmark registry (what ``pytest_audiollm_register_benchmarks`` receives)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.registry import Registry

if TYPE_CHECKING:
    from pytest_audiollm.benchmarks.spec import BenchmarkSpec, KindParsers

__all__ = ["BenchmarkRegistry"]


class BenchmarkRegistry(Registry[Any]):
    """Benchmarks by name: a spec, a YAML path, or a list of them (a suite such as ``demo``)."""

    kind = "benchmark"

    def specs(self, name: str, kinds: KindParsers) -> list[BenchmarkSpec]:
        """The specs registered as ``name``, YAML files read with the task kinds ``kinds``."""
        from pytest_audiollm.benchmarks.spec import BenchmarkSpec, load_spec

        value = self.get(name)
        items = value if isinstance(value, list | tuple) else [value]
        out: list[BenchmarkSpec] = []
        for item in items:
            out.append(item if isinstance(item, BenchmarkSpec) else load_spec(Path(item), kinds))
        return out
