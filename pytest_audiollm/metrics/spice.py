"""SPICE and SPIDEr with pycocoevalcap's ``spice-1.0.jar`` (needs Stanford CoreNLP 3.6.0, supplied by the user).

SPICE parses every caption into a scene graph with CoreNLP 3.6.0, whose two jars pycocoevalcap downloads on
first use (~0.4 GB zip from nlp.stanford.edu); here they must be put in place beforehand (``AUDIOLLM_SPICE_JARS``
or pycocoevalcap's ``spice/lib/``). One JVM run per gate (``-subset -silent``, no ``-cache``: its FST serialiser
fails on Java 17 with ``InaccessibleObjectException``), cached for the same corpus; the corpus value of a
resample is the weighted mean of the per-item F1 ("All") scores, as pycocoevalcap's mean over items.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.metrics.java import JavaError, find_java, java_unavailable_reason, pycocoevalcap_dir
from pytest_audiollm.metrics.protocol import CorpusMetric, ScoringContext, checked_weights
from pytest_audiollm.metrics.tokenize import tokenize_corpus, tokenizer_unavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SPICE_JARS_ENV = "AUDIOLLM_SPICE_JARS"
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
CORENLP_ZIP_URL = "http://nlp.stanford.edu/software/stanford-corenlp-full-2015-12-09.zip"
SPICE_MAIN = "edu.anu.spice.SpiceScorer"


def corenlp_dirs() -> list[Path]:
    """Where the CoreNLP 3.6.0 jars are looked for: ``$AUDIOLLM_SPICE_JARS``, then pycocoevalcap's ``spice/lib``."""
    dirs = []
    env = os.environ.get(SPICE_JARS_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    base = pycocoevalcap_dir()
    if base is not None:
        dirs.append(base / "spice" / "lib")
    return dirs


def corenlp_jars() -> list[Path] | None:
    """The two CoreNLP 3.6.0 jars (from the first directory holding both), or None."""
    for folder in corenlp_dirs():
        jars = [folder / name for name in CORENLP_JARS]
        if all(jar.is_file() for jar in jars):
            return jars
    return None


def spice_unavailable_reason() -> str | None:
    """Why SPICE cannot run here (with what to install and where), or None when it can."""
    reason = java_unavailable_reason("spice")
    if reason is not None:
        return reason
    if corenlp_jars() is None:
        where = " or ".join(str(d) for d in corenlp_dirs()) or f"the directory named by {SPICE_JARS_ENV}"
        return (
            "SPICE needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads on first use and this plugin does "
            f"not: download {CORENLP_ZIP_URL} (about 0.4 GB), extract {CORENLP_JARS[0]} and {CORENLP_JARS[1]} "
            f"from its stanford-corenlp-full-2015-12-09/ folder, and put both in a directory named by the "
            f"environment variable {SPICE_JARS_ENV} (or in pycocoevalcap's spice/lib/); looked in: {where}."
        )
    return None


class Spice(CorpusMetric):
    """SPICE (F1 of scene-graph tuples, "All"): mean over items, as ``pycocoevalcap.spice.Spice``."""

    name = "spice"
    version = "1.0+corenlp-3.6.0"
    higher_is_better = True
    description = "SPICE: F1 of the scene-graph tuples of the caption vs its references, mean over items"
    reference = "pycocoevalcap.spice.Spice (spice-1.0.jar -subset -silent, Stanford CoreNLP 3.6.0)"

    def __init__(self, heap: str = "8G", timeout_s: float = 3600.0) -> None:
        self.heap = heap
        self.timeout_s = timeout_s
        self._cached: tuple[object, list[float]] | None = None

    def unavailable(self, context: ScoringContext) -> str | None:
        return spice_unavailable_reason() or tokenizer_unavailable(context.caption_tokenizer)

    def item_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        """Per-item SPICE F1 (NaN where SPICE gave none), one JVM run per distinct corpus."""
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
        key = (context.caption_tokenizer, tuple(predictions), tuple(tuple(r) for r in references))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        reason = self.unavailable(context)
        if reason is not None:
            raise RuntimeError(reason)
        for refs in references:
            if not refs:
                raise ValueError("SPICE needs at least one reference per item")
        tok_predictions, tok_references = tokenize_corpus(predictions, references, context.caption_tokenizer)
        items: list[dict[str, Any]] = [
            {"image_id": i, "test": hyp, "refs": list(refs)}
            for i, (hyp, refs) in enumerate(zip(tok_predictions, tok_references, strict=True))
        ]
        scores = self._run(items)
        self._cached = (key, scores)
        return scores

    def _run(self, items: list[dict[str, Any]]) -> list[float]:
        executable, _ = find_java()
        base = pycocoevalcap_dir()
        jars = corenlp_jars()
        assert executable is not None and base is not None and jars is not None
        spice_dir = base / "spice"
        classpath = os.pathsep.join([str(spice_dir / "spice-1.0.jar"), *map(str, jars), str(spice_dir / "lib" / "*")])
        with tempfile.TemporaryDirectory(prefix="audiollm-spice-") as tmp:
            in_file, out_file = Path(tmp, "in.json"), Path(tmp, "out.json")
            in_file.write_text(json.dumps(items), encoding="utf-8")
            argv = [executable, f"-Xmx{self.heap}", "-Dfile.encoding=UTF-8", "-cp", classpath, SPICE_MAIN]
            argv += [str(in_file), "-out", str(out_file), "-subset", "-silent"]
            try:
                proc = subprocess.run(argv, cwd=spice_dir, capture_output=True, timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired:
                raise JavaError(f"SPICE did not finish within {self.timeout_s:.0f} s") from None
            if proc.returncode != 0 or not out_file.is_file():
                tail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[-2000:]
                raise JavaError(f"SPICE failed (exit status {proc.returncode}): {tail}")
            results = json.loads(out_file.read_text(encoding="utf-8"))
        by_id = {int(r["image_id"]): _float(r.get("scores", {}).get("All", {}).get("f")) for r in results}
        return [by_id.get(i, float("nan")) for i in range(len(items))]

    def corpus_scores(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        context: ScoringContext,
        weights: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        weights = checked_weights(weights, len(predictions))
        if len(predictions) == 0:
            return np.full(weights.shape[0], np.nan)
        scores = np.asarray(self.item_scores(predictions, references, context), dtype=np.float64)
        return weighted_mean(scores, weights)

    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        return list(self.item_scores(predictions, references, context)) if predictions else []


def weighted_mean(scores: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Mean of per-item ``scores`` in each resample (row of ``weights``); NaN items make it NaN, as in numpy."""
    import numpy as np

    totals = weights.sum(axis=1)
    present = weights > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        sums = np.where(present, weights * scores[None, :], 0.0).sum(axis=1)
        nan_in = (present & np.isnan(scores)[None, :]).any(axis=1)
        out = np.where(totals > 0, sums / totals, np.nan)
    return np.asarray(np.where(nan_in, np.nan, out), dtype=np.float64)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


class Spider(CorpusMetric):
    """SPIDEr = (CIDEr-D + SPICE) / 2, per item and per corpus (Liu et al. 2017; aac-metrics' definition)."""

    name = "spider"
    version = "2+cider_d-2+spice-1.0"
    higher_is_better = True
    description = "SPIDEr: mean of CIDEr-D and SPICE"
    reference = "aac-metrics spider: (pycocoevalcap Cider + pycocoevalcap Spice) / 2"

    def __init__(self, spice: Spice | None = None) -> None:
        self.spice = spice if spice is not None else Spice()
        self._cider: CorpusMetric | None = None

    @property
    def cider(self) -> CorpusMetric:
        if self._cider is None:
            from pytest_audiollm.metrics.cider import CiderD

            self._cider = CiderD()
        return self._cider

    def unavailable(self, context: ScoringContext) -> str | None:
        return self.spice.unavailable(context) or self.cider.unavailable(context)

    def corpus_scores(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        context: ScoringContext,
        weights: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        cider = self.cider.corpus_scores(predictions, references, context, weights)
        spice = self.spice.corpus_scores(predictions, references, context, weights)
        return np.asarray((cider + spice) / 2, dtype=np.float64)

    def sample_scores(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], context: ScoringContext
    ) -> list[float]:
        cider = self.cider.sample_scores(predictions, references, context)
        spice = self.spice.sample_scores(predictions, references, context)
        return [(c + s) / 2 for c, s in zip(cider, spice, strict=True)]
