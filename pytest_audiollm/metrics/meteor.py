"""METEOR 1.5 as pycocoevalcap runs it (``meteor-1.5.jar - - -stdio -l en -norm``), in one JVM per session.

Each sample's statistics are the jar's 23 ``SCORE`` numbers (for the best-matching reference); the corpus
value is METEOR's score of the summed statistics, which is what the jar's ``EVAL`` line returns (and what
``pycocoevalcap.meteor.Meteor().compute_score`` reports), reimplemented here from ``MeteorScorer.computeMetrics``
so bootstrap resamples need no Java.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_audiollm.metrics.captioning import CaptionMetric
from pytest_audiollm.metrics.java import (
    JavaProcess,
    find_java,
    java_unavailable_reason,
    pycocoevalcap_dir,
    shared_process,
)
from pytest_audiollm.metrics.protocol import ScoringContext
from pytest_audiollm.metrics.tokenize import tokenizer_unavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# meteor-1.5.jar, language "en", task "default" (what `-l en` selects): alpha, beta, gamma, delta and the
# weights of the exact, stem, synonym and paraphrase matching stages.
ALPHA, BETA, GAMMA, DELTA = 0.85, 0.20, 0.60, 0.75
MODULE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
STAGES = ("exact", "stem", "synonym", "paraphrase")
STAT_NAMES: tuple[str, ...] = (
    "test_len",
    "ref_len",
    "test_function_words",
    "ref_function_words",
    *(
        f"{side}_{stage}_{kind}"
        for stage in STAGES
        for kind, side in (("content", "test"), ("content", "ref"), ("function", "test"), ("function", "ref"))
    ),
    "chunks_counted",  # the jar's chunks, 0 for a perfect match (MeteorStats.addStats skips those)
    "test_word_matches",
    "ref_word_matches",
)


METEOR_ARGS = ("-", "-", "-stdio", "-l", "en", "-norm")


def meteor_argv() -> list[str]:
    """pycocoevalcap's command (plus UTF-8 I/O whatever the locale), run in its ``meteor/`` directory."""
    executable, _ = find_java()
    if executable is None:
        raise RuntimeError(java_unavailable_reason("meteor") or "java was not found")
    return [executable, "-Dfile.encoding=UTF-8", "-jar", "-Xmx2G", "meteor-1.5.jar", *METEOR_ARGS]


def meteor_process() -> JavaProcess:
    """The session's METEOR JVM (started on first request; start-up loads the 62 MB paraphrase table)."""

    def make() -> JavaProcess:
        base = pycocoevalcap_dir()
        cwd = str(base / "meteor") if base is not None else None
        return JavaProcess("METEOR 1.5", meteor_argv, cwd=cwd, startup_s=300)

    return shared_process("meteor", make)


def score_line(hypothesis: str, references: Sequence[str]) -> str:
    """pycocoevalcap's ``Meteor._stat`` request for already tokenised text."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    line = " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))
    return line.replace("\r", " ").replace("\n", " ")


def counted_stats(stats: list[float]) -> list[float]:
    """The jar's 23 ``SCORE`` numbers with the chunk count that its corpus aggregate adds up.

    ``MeteorStats.addStats`` (used for the ``EVAL`` aggregate) skips the chunk of a segment that matches
    perfectly (all words of both sides matched, in one chunk). Zeroing it here makes the corpus value a
    function of column sums; the segment's own score is unchanged (its fragmentation stays 0).
    """
    stages = stats[4:20]
    perfect = sum(stages[0::4]) + sum(stages[2::4]) == stats[0]
    perfect = perfect and sum(stages[1::4]) + sum(stages[3::4]) == stats[1] and stats[20] == 1
    return [*stats[:20], 0.0 if perfect else stats[20], *stats[21:]]


def meteor_scores(totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``MeteorScorer.computeMetrics`` on statistics of shape (..., 23), in the jar's order of operations."""
    import numpy as np

    t = np.asarray(totals, dtype=np.float64)
    test_len, ref_len, test_fw, ref_fw = t[..., 0], t[..., 1], t[..., 2], t[..., 3]
    stage = [t[..., 4 + 4 * i : 8 + 4 * i] for i in range(4)]  # test content, ref content, test fn, ref fn
    chunks, test_word_matches, ref_word_matches = t[..., 20], t[..., 21], t[..., 22]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        test_weighted_len = DELTA * (test_len - test_fw) + (1 - DELTA) * test_fw
        ref_weighted_len = DELTA * (ref_len - ref_fw) + (1 - DELTA) * ref_fw
        test_weighted = np.zeros_like(test_len)
        ref_weighted = np.zeros_like(test_len)
        for i, weight in enumerate(MODULE_WEIGHTS):
            test_weighted = test_weighted + stage[i][..., 0] * weight * DELTA
        for i, weight in enumerate(MODULE_WEIGHTS):
            ref_weighted = ref_weighted + stage[i][..., 1] * weight * DELTA
        for i, weight in enumerate(MODULE_WEIGHTS):
            test_weighted = test_weighted + stage[i][..., 2] * weight * (1 - DELTA)
        for i, weight in enumerate(MODULE_WEIGHTS):
            ref_weighted = ref_weighted + stage[i][..., 3] * weight * (1 - DELTA)
        precision = test_weighted / test_weighted_len
        recall = ref_weighted / ref_weighted_len
        f_mean = 1 / ((1 - ALPHA) / precision + ALPHA / recall)
        test_total = sum(stage[i][..., 0] + stage[i][..., 2] for i in range(4))
        ref_total = sum(stage[i][..., 1] + stage[i][..., 3] for i in range(4))
        perfect = (test_total == test_len) & (ref_total == ref_len) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((test_word_matches + ref_word_matches) / 2))
        score = f_mean * (1 - GAMMA * np.power(frag, BETA))
    return np.asarray(np.where(np.isnan(score), 0.0, np.maximum(score, 0.0)), dtype=np.float64)


class Meteor(CaptionMetric):
    """METEOR 1.5 (``-l en -norm``) at the gate, on the corpus tokenised as pycocoevalcap does.

    The jar scores every sample in ONE request per corpus (its 23 ``SCORE`` statistics per sample); the corpus
    value of a resample is computed from the weighted sums in Python.
    """

    name = "meteor"
    version = "1.5+ptb-corenlp-3.4.1+corpus"  # +corpus: corpus tokenised as pycocoevalcap does, at the gate
    higher_is_better = True
    description = (
        "METEOR 1.5 (en, -norm): harmonic mean of unigram precision and recall (recall-weighted, alpha 0.85) "
        "over exact/stem/synonym/paraphrase matches against the best reference, times a fragmentation "
        "penalty; corpus value from summed statistics"
    )
    reference = (
        "pycocoevalcap.meteor.Meteor (meteor-1.5.jar -l en -norm) after PTBTokenizer().tokenize of all "
        "references and of all predictions (caption_tokenizer: ptb)"
    )
    stat_names = STAT_NAMES

    def unavailable(self, context: ScoringContext) -> str | None:
        return java_unavailable_reason("meteor") or tokenizer_unavailable(context.caption_tokenizer)

    def prepare(self, context: ScoringContext) -> None:
        start_meteor()  # the jar loads its paraphrase table while the corpus is tokenised

    def tokenized_stats(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        return np.asarray(batch_stats(predictions, references), dtype=np.float64).reshape(
            len(predictions), len(STAT_NAMES)
        )

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return meteor_scores(totals)


def batch_stats(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[list[float]]:
    """The jar's statistics (:func:`counted_stats`) of many tokenised samples, in one round trip to the JVM."""
    lines = [score_line(hyp, refs) for hyp, refs in zip(predictions, references, strict=True)]
    if not lines:
        return []
    answers = meteor_process().request(lines, len(lines))
    out = []
    for line, answer in zip(lines, answers, strict=True):
        try:
            stats = [float(v) for v in answer.split()]
        except ValueError:
            stats = []
        if len(stats) != len(STAT_NAMES):
            raise RuntimeError(f"METEOR answered {answer!r} to {line!r}")
        out.append(counted_stats(stats))
    return out


def start_meteor() -> None:
    """Start the session's METEOR JVM in the background (no-op when it runs); its first request waits for it."""
    process = meteor_process()
    if process.running:
        return

    def warm_up() -> None:
        with contextlib.suppress(Exception):  # the real request reports a failure
            process.request([score_line("a", ["a"])], 1)

    threading.Thread(target=warm_up, name="audiollm-meteor-start", daemon=True).start()
