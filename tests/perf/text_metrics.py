"""Caption metrics: pytest-audiollm vs pycocoevalcap, in one process (a script, not a pytest test file).

    python tests/perf/text_metrics.py [--items 1000] [--refs 5] [--resamples 1000] [--seed 0] [--ours-first]

A seeded synthetic corpus (N captions x R references, Zipf-distributed vocabulary, each item's captions sharing
"scene" words) is scored for BLEU-1..4, ROUGE-L, CIDEr-D and METEOR, tokenisation included on both sides:

- pycocoevalcap as ``COCOEvalCap.evaluate`` does it: ``PTBTokenizer().tokenize`` of the references and of the
  candidates, then ``Bleu(4)``, ``Rouge()``, ``Cider()`` and ``Meteor()`` ``compute_score`` (METEOR's JVM start
  included, as in a fresh evaluation);
- ours as the plugin does it now: every caption metric is computed at its gate over the whole corpus
  (``aggregate_corpus`` with no resample for the value, then ``sample_scores``, as ``scoring.aggregate_rows``);
  the first gate tokenises the corpus (``ptb``: our session JVM, started here, and METEOR's JVM started
  alongside) and the others reuse it.

Then the bootstrap time of each of our metrics (``--resamples`` resamples, from the statistics already
computed and cached) and the largest difference between our corpus values and pycocoevalcap's. METEOR (and the PTB
tokenizer) need Java; without them those parts are reported as not available and the rest is measured with the
``basic`` tokenizer on both sides.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

FUNCTION_WORDS = [
    "a",
    "the",
    "is",
    "and",
    "of",
    "in",
    "on",
    "with",
    "while",
    "an",
    "as",
    "near",
    "from",
    "by",
    "at",
    "to",
    "are",
    "it",
]


def make_corpus(items: int, refs: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Realistic-looking random captions: function words, the item's scene words and Zipf-drawn other words."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary: set[str] = set()
    while len(vocabulary) < 3000:
        vocabulary.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    words = sorted(vocabulary)
    zipf = [1 / (k + 1) for k in range(len(words))]

    def caption(scene: list[str]) -> str:
        out = []
        for _ in range(rng.randint(6, 16)):
            u = rng.random()
            if u < 0.35:
                out.append(rng.choice(FUNCTION_WORDS))
            elif u < 0.75:
                out.append(rng.choice(scene))
            else:
                out.append(rng.choices(words, zipf)[0])
        if rng.random() < 0.2:
            out.insert(rng.randint(1, len(out) - 1), ",")
        text = " ".join(out).replace(" ,", ",")
        return text[0].upper() + text[1:] + rng.choice([".", "", ".", " ."])

    predictions, references = [], []
    for _ in range(items):
        scene = rng.choices(words, zipf, k=6)
        references.append([caption(scene) for _ in range(refs)])
        predictions.append(caption(scene))
    return predictions, references


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def tokenizer_to_use() -> tuple[str, str | None]:
    try:
        from pytest_audiollm.metrics.tokenize import tokenizer_unavailable
    except ImportError:
        return "basic", "pytest_audiollm.metrics.tokenize not available yet"
    reason = tokenizer_unavailable("ptb")
    return ("basic", reason) if reason else ("ptb", None)


def meteor_unavailable(context: Any) -> str | None:
    try:
        from pytest_audiollm.metrics.meteor import Meteor
    except ImportError:
        return "pytest_audiollm.metrics.meteor not available yet"
    return Meteor().unavailable(context)


def run_pycocoevalcap(
    predictions: list[str], references: list[list[str]], tokenizer: str, with_meteor: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """pycocoevalcap's scores and times (seconds) per step."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    times: dict[str, float] = {}
    scores: dict[str, float] = {}
    gts_raw = {i: [{"caption": r} for r in refs] for i, refs in enumerate(references)}
    res_raw = {i: [{"caption": p}] for i, p in enumerate(predictions)}
    if tokenizer == "ptb":
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        def tokenize() -> tuple[dict[int, list[str]], dict[int, list[str]]]:
            ptb = PTBTokenizer()
            return ptb.tokenize(gts_raw), ptb.tokenize(res_raw)

    else:
        from pytest_audiollm.metrics.normalize import words

        def tokenize() -> tuple[dict[int, list[str]], dict[int, list[str]]]:
            gts = {i: [" ".join(words(c["caption"])) for c in v] for i, v in gts_raw.items()}
            return gts, {i: [" ".join(words(c["caption"])) for c in v] for i, v in res_raw.items()}

    (gts, res), times["tokenize"] = timed(tokenize)
    bleu, times["bleu_1..4"] = timed(lambda: Bleu(4).compute_score(gts, res, verbose=0)[0])
    for k in range(4):
        scores[f"bleu_{k + 1}"] = float(bleu[k])
    scores["rouge_l"], times["rouge_l"] = timed(lambda: float(Rouge().compute_score(gts, res)[0]))
    scores["cider_d"], times["cider_d"] = timed(lambda: float(Cider().compute_score(gts, res)[0]))
    if with_meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        def meteor() -> float:
            scorer = Meteor()
            try:
                return float(scorer.compute_score(gts, res)[0])
            finally:
                del scorer

        scores["meteor"], times["meteor"] = timed(meteor)
    return scores, times


def run_ours(
    predictions: list[str],
    references: list[list[str]],
    tokenizer: str,
    with_meteor: bool,
    resamples: int,
    meteor_last: bool = False,
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Our scores, times per metric at its gate (corpus value + per-sample scores), and bootstrap times."""
    from pytest_audiollm.metrics.bleu import Bleu
    from pytest_audiollm.metrics.cider import CiderD
    from pytest_audiollm.metrics.protocol import CorpusMetric, ScoringContext
    from pytest_audiollm.metrics.rouge import RougeL
    from pytest_audiollm.metrics.stats import aggregate_corpus

    context = ScoringContext(task="captioning", caption_tokenizer=tokenizer)
    metrics: list[CorpusMetric] = [*(Bleu(k) for k in range(1, 5)), RougeL(), CiderD()]
    if with_meteor:
        from pytest_audiollm.metrics.meteor import Meteor

        # the plugin's gates run in the order of the benchmark's metrics; METEOR first starts its JVM while the
        # corpus is tokenised
        metrics.insert(len(metrics) if meteor_last else 0, Meteor())
    times: dict[str, float] = {}
    scores: dict[str, float] = {}
    start = time.perf_counter()
    for metric in metrics:  # each gate, as scoring.aggregate_rows: the corpus value, then per-sample scores
        t = time.perf_counter()
        scores[metric.name] = aggregate_corpus(metric, predictions, references, context, resamples=0).value
        metric.sample_scores(predictions, references, context)
        times[metric.name] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    boot: dict[str, float] = {}
    for metric in metrics:
        _, boot[metric.name] = timed(
            lambda m=metric: aggregate_corpus(m, predictions, references, context, resamples=resamples)
        )
    return scores, times, boot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ours-first", action="store_true", help="run ours before pycocoevalcap")
    parser.add_argument("--meteor-last", action="store_true", help="our METEOR gate last (default: first)")
    args = parser.parse_args()

    from pytest_audiollm.metrics.protocol import ScoringContext

    predictions, references = make_corpus(args.items, args.refs, args.seed)
    tokenizer, why_not_ptb = tokenizer_to_use()
    if why_not_ptb:
        print(f"PTB tokenizer: not available ({why_not_ptb}); both sides use the basic tokenizer")
    meteor_reason = meteor_unavailable(ScoringContext(task="captioning", caption_tokenizer=tokenizer))
    with_meteor = meteor_reason is None
    print(f"{args.items} captions x {args.refs} references, tokenizer {tokenizer}, seed {args.seed}")

    def theirs() -> tuple[dict[str, float], dict[str, float]]:
        return run_pycocoevalcap(predictions, references, tokenizer, with_meteor)

    def ours() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        return run_ours(predictions, references, tokenizer, with_meteor, args.resamples, args.meteor_last)

    if args.ours_first:
        our_scores, our_times, boot = ours()
        coco_scores, coco_times = theirs()
    else:
        coco_scores, coco_times = theirs()
        our_scores, our_times, boot = ours()

    coco_total = sum(coco_times.values())
    print("\npycocoevalcap (s):", ", ".join(f"{k} {v:.3f}" for k, v in coco_times.items()), f"| total {coco_total:.3f}")
    print(
        "ours (s, gate order; tokenisation and JVM starts inside the first gate):",
        ", ".join(f"{k} {v:.3f}" for k, v in our_times.items() if k != "total"),
        f"| total {our_times['total']:.3f}",
    )
    if not with_meteor:
        print(f"METEOR: not available yet ({meteor_reason}); measured without it on both sides")
    print(f"ours / pycocoevalcap: {our_times['total'] / coco_total:.3f}  (goal <= 1.0)")
    bleu_ours = sum(our_times[f"bleu_{k}"] for k in range(1, 5))
    rows = [("bleu_1..4", bleu_ours, coco_times["bleu_1..4"])]
    rows += [
        (name, our_times[name], coco_times[name]) for name in ("rouge_l", "cider_d", "meteor") if name in coco_times
    ]
    for name, mine, theirs_time in rows:
        print(f"  {name:10s} ours {mine:7.3f} s   pycocoevalcap {theirs_time:7.3f} s")
    print(f"  tokenize   (ours: in the first gate) pycocoevalcap {coco_times['tokenize']:7.3f} s")
    print(f"\nbootstrap, {args.resamples} resamples (s):", ", ".join(f"{k} {v:.3f}" for k, v in boot.items()))
    print("\n|ours - pycocoevalcap| of the corpus values:")
    for name, value in our_scores.items():
        print(f"  {name:8s} {value:.12f}  diff {abs(value - coco_scores[name]):.2e}")


if __name__ == "__main__":
    main()
