"""Gates: threshold expressions (``">= 0.60"``, ``"ci_high <= 0.12"``) and their verdicts."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

BOUNDS = ("value", "ci_low", "ci_high")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPR = re.compile(r"^\s*(?:(?P<bound>value|ci_low|ci_high)\s*)?(?P<op>>=|<=|>|<)\s*(?P<num>[-+0-9.eE]+)\s*$")
_CLI = re.compile(r"^\s*(?P<bench>[^:\s]+)\s*:\s*(?P<metric>[A-Za-z0-9_]+)\s*(?P<expr>.+)$")


class ThresholdSyntaxError(ValueError):
    """A threshold expression that does not parse."""


@dataclass(frozen=True)
class Condition:
    """``bound op threshold``: what a gate asserts about an aggregate metric."""

    bound: str
    op: str
    threshold: float

    def holds(self, value: float, ci95: tuple[float, float]) -> bool:
        observed = {"value": value, "ci_low": ci95[0], "ci_high": ci95[1]}[self.bound]
        if math.isnan(observed):
            return False
        return _OPS[self.op](observed, self.threshold)

    def observed(self, value: float, ci95: tuple[float, float]) -> float:
        return {"value": value, "ci_low": ci95[0], "ci_high": ci95[1]}[self.bound]

    def __str__(self) -> str:
        prefix = "" if self.bound == "value" else f"{self.bound} "
        return f"{prefix}{self.op} {self.threshold:g}"


def parse_condition(text: str) -> Condition:
    """Parse ``">= 0.6"``, ``"ci_high <= 0.12"`` or ``"value > 3"``."""
    match = _EXPR.match(str(text))
    if not match:
        raise ThresholdSyntaxError(
            f"cannot read threshold {text!r}: write it as 'OP NUMBER' or 'BOUND OP NUMBER', "
            f"with OP one of >=, <=, >, < and BOUND one of {', '.join(BOUNDS)} (e.g. '>= 0.60', 'ci_high <= 0.12')"
        )
    try:
        number = float(match["num"])
    except ValueError as exc:
        raise ThresholdSyntaxError(f"cannot read the number in threshold {text!r}") from exc
    return Condition(bound=match["bound"] or "value", op=match["op"], threshold=number)


@dataclass(frozen=True)
class ThresholdOverride:
    """A ``--audiollm-threshold BENCH:METRIC EXPR`` option (BENCH may be ``*``)."""

    benchmark: str
    metric: str
    condition: Condition

    def applies_to(self, benchmark: str) -> bool:
        return self.benchmark in ("*", benchmark)


def parse_threshold_option(text: str) -> ThresholdOverride:
    match = _CLI.match(text)
    if not match:
        raise ThresholdSyntaxError(
            f"cannot read --audiollm-threshold {text!r}: write BENCHMARK:METRIC followed by a threshold, "
            "e.g. 'demo-asr:wer<=0.3', 'demo-asr:wer ci_high<=0.4' or '*:accuracy>=0.5'"
        )
    return ThresholdOverride(match["bench"], match["metric"], parse_condition(match["expr"]))
