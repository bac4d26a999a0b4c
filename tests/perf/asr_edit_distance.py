"""WER/CER edit distance: the RapidFuzz route against the pure-Python O(n*m) loop it replaced, and jiwer (a script,
not a pytest test file; CI does not time anything).

    python tests/perf/asr_edit_distance.py [--chars 3500] [--repeat 3]

One seeded utterance of ``--chars`` characters (words of 2-9 letters) and a hypothesis with about 8 % of its
characters substituted, deleted or inserted. Printed: the CER distance by the old loop (kept below, as it was in
``metrics/asr.py``), by ``pytest_audiollm.metrics.asr.edit_distance`` and by ``jiwer.cer`` (its error count), the
best of ``--repeat`` times of each, and the ratio old / new. The WER distance of the same texts is timed too.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def quadratic_edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The edit distance of metrics/asr.py before RapidFuzz."""
    if not reference:
        return len(hypothesis)
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token)))
        previous = current
    return previous[-1]


def utterance(chars: int, seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))))
    reference = " ".join(words)[:chars].strip()
    hypothesis = []
    for c in reference:
        roll = rng.random()
        if roll < 0.03:
            hypothesis.append(rng.choice("abcdefghijklmnopqrstuvwxyz"))  # substitution
        elif roll < 0.055:
            continue  # deletion
        elif roll < 0.08:
            hypothesis += [c, rng.choice("abcdefghijklmnopqrstuvwxyz")]  # insertion
        else:
            hypothesis.append(c)
    return reference, "".join(hypothesis)


def best_of(repeat: int, function: Callable[[], int]) -> tuple[float, int]:
    times, value = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=3500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from pytest_audiollm.metrics.asr import edit_distance

    reference, hypothesis = utterance(args.chars, args.seed)
    print(f"utterance: {len(reference)} reference characters, {len(hypothesis)} hypothesis characters")
    for unit, ref, hyp in (
        ("CER", list(reference), list(hypothesis)),
        ("WER", reference.split(), hypothesis.split()),
    ):
        old_s, old = best_of(args.repeat, lambda r=ref, h=hyp: quadratic_edit_distance(r, h))
        new_s, new = best_of(args.repeat, lambda r=ref, h=hyp: edit_distance(r, h))
        line = f"{unit}: {len(ref)} x {len(hyp)} tokens; old loop {old_s:.4f} s, rapidfuzz {new_s:.6f} s"
        line += f", ratio old / new {old_s / new_s:,.0f}; distances {old} (old) {new} (new)"
        try:
            import jiwer
        except ImportError:
            line += "; jiwer not installed"
        else:
            process = jiwer.process_characters if unit == "CER" else jiwer.process_words
            jiwer_s, errors = best_of(
                args.repeat,
                lambda p=process: (lambda o: o.substitutions + o.deletions + o.insertions)(p(reference, hypothesis)),
            )
            line += f"; jiwer {jiwer_s:.6f} s, {errors} errors"
        print(line)
        if old != new:
            sys.exit(f"{unit}: the distances differ: {old} (old loop) vs {new} (rapidfuzz)")


if __name__ == "__main__":
    main()
