"""``python -m pytest_audiollm compare A.json B.json``: is B (current) worse than A (baseline)?

For every run of B whose benchmark is in A (the baseline run picked as in
:func:`pytest_audiollm.results.baseline.select_run`), prints a table of the metrics in both (A value, B value,
delta = B - A, one-sided p-value for "B is worse", test, verdict), then the samples that flipped right -> wrong
and wrong -> right (or the largest per-sample drops) with their predictions in A and B.

Exit codes: 0 no significant regression, 1 some metric regressed significantly in B, 2 usage error (bad
arguments, unreadable or mismatched files, nothing to compare).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from pytest_audiollm.errors import AudioLLMError

if TYPE_CHECKING:
    from pytest_audiollm.records import Comparison, RunRecord

PREDICTION_WIDTH = 60
FLIPS_LISTED = 20


def build_parser(prog: str = "python -m pytest_audiollm compare") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Compare two pytest-audiollm results files: A is the baseline, B the run checked for "
        "regressions (paired tests on the samples both scored).",
    )
    parser.add_argument("baseline", metavar="A.json", help="baseline results file (--audiollm-results)")
    parser.add_argument("current", metavar="B.json", help="results file compared with the baseline")
    parser.add_argument("--level", type=_level, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--resamples", type=_non_negative, default=1000, help="paired bootstrap resamples (default 1000)"
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the comparison and return the exit code (argparse exits with 2 by itself on bad arguments)."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        return compare_files(
            args.baseline, args.current, level=args.level, seed=args.seed, resamples=args.resamples, out=out
        )
    except AudioLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def compare_files(
    baseline_path: str, current_path: str, *, level: float, seed: int, resamples: int, out: TextIO
) -> int:
    from pytest_audiollm.builtins import builtin_registries
    from pytest_audiollm.core.baseline import compare_runs
    from pytest_audiollm.records import RunIdentity, identity_mismatch, read_baseline, read_results, select_run

    baseline_doc = read_baseline(baseline_path)  # an interrupted session's file is refused as A
    current_doc = read_results(current_path)
    if not current_doc.complete:
        print(f"note: {current_path} comes from an interrupted session: only what it ran is compared", file=out)
    metrics, kinds = builtin_registries()  # the comparison runs outside pytest: no plugin's hooks
    compared = mismatched = regressed = 0
    unmatched: list[str] = []
    for run in current_doc.runs:
        base = select_run(baseline_doc, run.benchmark, run.model)
        if base is None:
            unmatched.append(f"{run.benchmark} / {run.model}")
            continue
        print(f"\n== {run.benchmark}: A = {base.model} ({baseline_path}), B = {run.model} ({current_path})", file=out)
        mismatch = identity_mismatch(RunIdentity.of(run), base)
        if mismatch is not None:
            print(f"error: cannot compare with the baseline: {mismatch}", file=out)
            mismatched += 1
            continue
        compared += 1
        results = compare_runs(run, base, kinds, metrics, seed=seed, resamples=resamples, level=level)
        regressed += sum(1 for r in results if r.regressed)
        _print_table(results, out)
        _print_flips(results, run, base, out)
    if unmatched:
        print(f"\nnot in A (not compared): {', '.join(unmatched)}", file=out)
    current_benchmarks = {r.benchmark for r in current_doc.runs}
    only_a = [f"{r.benchmark} / {r.model}" for r in baseline_doc.runs if r.benchmark not in current_benchmarks]
    if only_a:
        print(f"\nnot in B (not compared): {', '.join(only_a)}", file=out)
    if mismatched:
        return 2
    if not compared:
        raise AudioLLMError(
            f"{current_path!r} and {baseline_path!r} have no benchmark in common: nothing to compare; pass two "
            f"results files of the same benchmarks"
        )
    verdict = f"{regressed} metric(s) regressed significantly in B" if regressed else "no significant regression"
    print(f"\n{verdict} (one-sided level {level})", file=out)
    return 1 if regressed else 0


def _print_table(results: Sequence[Comparison], out: TextIO) -> None:
    header = ("metric", "A", "B", "delta", "p-value", "test", "verdict")
    rows = [header]
    notes = []
    for r in results:
        arrow = "" if r.higher_is_better is None else (" ^" if r.higher_is_better else " v")
        rows.append(
            (
                f"{r.metric}{arrow}",
                _num(r.baseline_value),
                _num(r.value),
                _num(r.delta, signed=True),
                "-" if r.p_value is None else f"{r.p_value:.4g}",
                r.test or "values only",
                _verdict(r),
            )
        )
        if r.note:
            notes.append(f"  {r.metric}: {r.note}")
        if r.only_in_current or r.only_in_baseline:
            notes.append(
                f"  {r.metric}: {r.n_paired} paired samples; {len(r.only_in_baseline)} scored only in A, "
                f"{len(r.only_in_current)} only in B (left out)"
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
    for note in dict.fromkeys(notes):
        print(note, file=out)


def _print_flips(results: Sequence[Comparison], current: RunRecord, baseline: RunRecord, out: TextIO) -> None:
    cur = {s.id: s for s in current.samples}
    base = {s.id: s for s in baseline.samples}
    shown: set[tuple[str, ...]] = set()
    for r in results:
        lists = [("right -> wrong", r.right_to_wrong), ("wrong -> right", r.wrong_to_right)]
        if r.test == "paired_bootstrap":
            lists = [
                ("largest drops", [str(d["id"]) for d in r.largest_drops]),
                ("largest rises", [str(d["id"]) for d in r.largest_rises]),
            ]
        for title, ids in lists:
            if not ids or (title, *ids) in shown:
                continue
            shown.add((title, *ids))
            print(f"\n{r.metric} {title} ({len(ids)}):", file=out)
            for sample_id in ids[:FLIPS_LISTED]:
                a = _short(base[sample_id].prediction if sample_id in base else None)
                b = _short(cur[sample_id].prediction if sample_id in cur else None)
                print(f"  {sample_id}: A {a}  |  B {b}", file=out)
            if len(ids) > FLIPS_LISTED:
                print(f"  ... and {len(ids) - FLIPS_LISTED} more", file=out)


def _verdict(r: Comparison) -> str:
    if r.regressed:
        return "REGRESSED"
    if r.p_value is None or r.delta is None or r.higher_is_better is None:
        return "no test"
    better = r.delta * (1 if r.higher_is_better else -1)
    if better < 0:
        return "worse, not significant" if r.p_value >= r.level else "worse, within tolerance"
    return "better" if better > 0 else "same"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _short(prediction: object) -> str:
    if prediction is None:
        return "(none)"
    text = " ".join(str(prediction).split())
    return repr(text if len(text) <= PREDICTION_WIDTH else text[: PREDICTION_WIDTH - 3] + "...")


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the level must be between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value
