"""The ``clap`` model adapter: LAION CLAP as a zero-shot audio classifier over the benchmark's choices.

``--audiollm-model clap`` answers a classification sample with the label whose text embedding is closest to the
clip's audio embedding: the argmax of CLAP's ``logits_per_audio`` (cosine similarity times the learned scale)
over one text per choice, ``label_template`` with the label in place of ``{}``. The output is the label
string itself, so the benchmark's accuracy metrics score it. Settings (``--audiollm-model-arg KEY=VALUE``):

- ``path``: a local checkpoint directory or another hub repo (default ``laion/clap-htsat-unfused``);
- ``revision``: a hub branch, tag or commit (ignored for local directories);
- ``label_template``: the text for one label (default ``"This is a sound of {}."``, the template of
  transformers' ``zero-shot-audio-classification`` pipeline and of the CLAP paper's zero-shot evaluation).

The labels come from the request's ``choices`` (the benchmark YAML's ``choices``); a sample without choices (a
captioning or ASR benchmark, or a classification benchmark that does not list its labels) fails with a message
saying so. The prompt is ignored. Text embeddings are computed once per distinct choices tuple and cached until
``unload``. Audio is resampled to the feature extractor's 48 kHz with soxr.

Long clips: CLAP's feature extractor takes ``max_length_s`` (10 s) and crops longer audio at a *random* offset
(``rand_trunc``) or fuses random crops (``fusion``). To stay deterministic, :class:`ClapEncoder` embeds a long
clip as consecutive windows of that length and averages their L2-normalised embeddings, weighted by window
length, then normalises again. It also sets ``is_longer`` from the real lengths: the feature extractor marks a
random sample of a batch as "longer" when none is (a training-time trick), which would make a fused model's
output depend on the batch and the global NumPy random state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.models.checkpoint import Checkpoint
from pytest_audiollm.models.memory import release_torch_memory
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_LABEL_TEMPLATE",
    "ClapEncoder",
    "ClapZeroShot",
    "clap_factory",
    "looks_like_repo_id",
]

DEFAULT_CHECKPOINT = "laion/clap-htsat-unfused"
DEFAULT_LABEL_TEMPLATE = "This is a sound of {}."
TEXT_MAX_TOKENS = 77  # laion_clap's tokenizer cuts texts at 77 tokens
_NEEDED_FOR = "the clap model adapter"


def _torch_and_transformers(needed_for: str) -> tuple[Any, Any]:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency("torch", needed_for, extra="hf") from exc
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency("transformers", needed_for, extra="hf") from exc
    return torch, transformers


def looks_like_repo_id(text: str) -> bool:
    """``owner/name`` or ``name`` with hub-legal characters (``./x``, ``/abs/path`` or ``a/b/c`` are not)."""
    parts = text.split("/")
    return (
        len(parts) <= 2
        and all(parts)
        and not text.startswith((".", "~"))
        and all(c.isalnum() or c in "-_." for c in text.replace("/", ""))
    )


class ClapEncoder:
    """CLAP's text and audio towers (transformers ``ClapModel`` + ``ClapProcessor``), in float32.

    Both embedding methods return L2-normalised rows (a ``torch.Tensor`` on the model's device), so a dot
    product is the cosine similarity. Shared by the ``clap`` adapter and
    :class:`~pytest_audiollm.metrics.generation.clap_score.ClapScorer`.
    """

    def __init__(self, target: str, revision: str | None = None, *, needed_for: str, batch_size: int = 16) -> None:
        self.target = target
        self.revision = revision
        self.needed_for = needed_for
        self.batch_size = max(1, batch_size)
        self.checkpoint = Checkpoint(target, revision, needed_for=needed_for, extra="hf")
        self.sample_rate = 48000
        self.window_samples = 10 * 48000
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"

    @property
    def model(self) -> Any:
        """The loaded ``ClapModel`` (None before ``load`` and after ``unload``)."""
        return self._model

    @property
    def processor(self) -> Any:
        """The loaded ``ClapProcessor`` (None before ``load`` and after ``unload``)."""
        return self._processor

    def _kwargs(self) -> dict[str, Any]:
        return {"revision": self.revision} if self.revision and not self.checkpoint.is_local else {}

    def estimate_bytes(self) -> int:
        """Bytes of the float32 weights: from the safetensors headers, else the model built on ``meta``."""
        rate = self.checkpoint.sample_rate()
        if rate is not None:
            self.sample_rate = rate
        estimate = self.checkpoint.estimate_bytes("float32")
        if estimate is not None:
            return estimate
        torch, transformers = _torch_and_transformers(self.needed_for)
        config = transformers.ClapConfig.from_pretrained(self.target, **self._kwargs())
        with torch.device("meta"):
            model = transformers.ClapModel(config)
        tensors = [*model.parameters(), *model.buffers()]
        return int(sum(t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in tensors))

    def load(self, device: str) -> None:
        torch, transformers = _torch_and_transformers(self.needed_for)
        if not self.checkpoint.is_local and not looks_like_repo_id(self.target):
            raise AudioLLMError(
                f"{self.needed_for}: the CLAP checkpoint '{self.target}' is not a directory (and not a hub repo id "
                f"such as {DEFAULT_CHECKPOINT}). Pass a directory written by ClapModel.save_pretrained and "
                "ClapProcessor.save_pretrained (config.json, model.safetensors, tokenizer and preprocessor files), "
                "or a hub repo id that is cached or downloadable."
            )
        try:
            processor = transformers.ClapProcessor.from_pretrained(self.target, **self._kwargs())
            model = transformers.ClapModel.from_pretrained(self.target, dtype=torch.float32, **self._kwargs())
        except (OSError, ValueError) as exc:
            where = "directory" if self.checkpoint.is_local else "hub repo (is it cached, or are you offline?)"
            raise AudioLLMError(
                f"{self.needed_for}: could not load the CLAP checkpoint '{self.target}' from this {where}: {exc}. "
                "Pass a directory saved with ClapModel/ClapProcessor.save_pretrained, or a hub repo id such as "
                f"{DEFAULT_CHECKPOINT}."
            ) from exc
        model.to(device)
        model.eval()
        feature_extractor = processor.feature_extractor
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.window_samples = int(feature_extractor.nb_max_samples)
        self._processor, self._model, self._device = processor, model, device

    def unload(self) -> None:
        self._model = None
        self._processor = None

        release_torch_memory()

    def _require_loaded(self) -> None:
        if self._model is None:
            raise AudioLLMError(f"{self.needed_for}: the CLAP model is used before load()")

    @property
    def logit_scale(self) -> float:
        """CLAP's learned audio-side temperature: ``logits_per_audio = logit_scale * cosine``."""
        self._require_loaded()
        return float(self._model.logit_scale_a.detach().exp())

    def text_embeddings(self, texts: Sequence[str]) -> Any:
        """One L2-normalised embedding per text, ``(len(texts), dim)``; texts are cut at 77 tokens."""
        self._require_loaded()
        import torch

        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._processor.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=TEXT_MAX_TOKENS,
                return_tensors="pt",
            )
            with torch.inference_mode():
                out = self._model.get_text_features(
                    input_ids=batch["input_ids"].to(self._device),
                    attention_mask=batch["attention_mask"].to(self._device),
                )
            rows.append(torch.nn.functional.normalize(out.pooler_output, dim=-1))
        return torch.cat(rows) if rows else torch.empty((0, 0))

    def audio_embeddings(self, waveforms: Sequence[npt.NDArray[Any]], sample_rate: int) -> Any:
        """One L2-normalised embedding per mono waveform, ``(len(waveforms), dim)``.

        Waveforms at another rate are resampled with soxr; clips longer than the feature extractor's window
        are embedded window by window and averaged (see the module docstring).
        """
        self._require_loaded()
        import torch

        from pytest_audiollm.models.windowing import spans

        windows: list[npt.NDArray[np.float32]] = []
        owners: list[int] = []
        for index, waveform in enumerate(waveforms):
            audio = self._prepare(waveform, sample_rate, index)
            for start, stop in spans(len(audio), self.sample_rate, self.window_samples / self.sample_rate):
                windows.append(audio[start:stop])
                owners.append(index)
        if not windows:
            return torch.empty((0, 0))
        embedded = torch.cat(
            [self._embed_windows(windows[i : i + self.batch_size]) for i in range(0, len(windows), self.batch_size)]
        )
        if len(windows) == len(waveforms):
            return embedded
        owner = torch.tensor(owners, device=embedded.device)
        weights = torch.tensor([len(w) for w in windows], dtype=embedded.dtype, device=embedded.device)
        summed = torch.zeros((len(waveforms), embedded.shape[1]), dtype=embedded.dtype, device=embedded.device)
        summed.index_add_(0, owner, embedded * weights[:, None])
        return torch.nn.functional.normalize(summed, dim=-1)

    def _prepare(self, waveform: npt.NDArray[Any], sample_rate: int, index: int) -> npt.NDArray[np.float32]:
        import numpy as np

        audio = np.asarray(waveform, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"waveform {index} has shape {audio.shape}: CLAP takes mono 1-D audio")
        if audio.size == 0:
            raise ValueError(f"waveform {index} is empty")
        if sample_rate != self.sample_rate:
            import soxr

            audio = np.asarray(soxr.resample(audio, sample_rate, self.sample_rate), dtype=np.float32)
        return audio

    def _embed_windows(self, windows: Sequence[npt.NDArray[np.float32]]) -> Any:
        import torch

        features = self._processor.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="pt")
        # every window fits, so none is "longer"; the extractor would mark a random one (see module docstring)
        is_longer = torch.tensor([[len(w) > self.window_samples] for w in windows], dtype=torch.bool)
        with torch.inference_mode():
            out = self._model.get_audio_features(
                input_features=features["input_features"].to(self._device, dtype=torch.float32),
                is_longer=is_longer.to(self._device),
            )
        return torch.nn.functional.normalize(out.pooler_output, dim=-1)


class ClapZeroShot(AudioModel):
    """LAION CLAP behind ``--audiollm-model clap``: picks the benchmark choice closest to the audio."""

    sample_rate = 48000
    cpu_only = False

    def __init__(self, options: ModelOptions) -> None:
        super().__init__(options)
        extra = options.extra
        self.target = str(extra.get("path") or options.target or DEFAULT_CHECKPOINT)
        revision = extra.get("revision")
        self.revision: str | None = str(revision) if revision else None
        self.label_template = str(extra.get("label_template", DEFAULT_LABEL_TEMPLATE))
        if "{}" not in self.label_template:
            raise AudioLLMError(
                f"model '{options.name}': label_template {self.label_template!r} has no '{{}}' where the label "
                f"goes; use e.g. label_template='{DEFAULT_LABEL_TEMPLATE}'"
            )
        self.encoder = ClapEncoder(self.target, self.revision, needed_for=_NEEDED_FOR, batch_size=16)
        self.checkpoint = self.encoder.checkpoint
        self._text_cache: dict[tuple[str, ...], Any] = {}
        self.text_cache_hits = 0
        self.text_cache_misses = 0

    def memory_estimate(self) -> int:
        estimate = self.encoder.estimate_bytes()
        self.sample_rate = self.encoder.sample_rate
        return estimate

    def load(self, device: str) -> None:
        self.encoder.load(device)
        self.sample_rate = self.encoder.sample_rate

    def warmup(self) -> None:
        """One audio embedding of half a second of silence and one text embedding (nothing is cached)."""
        import numpy as np

        self.encoder.audio_embeddings([np.zeros(self.sample_rate // 2, dtype=np.float32)], self.sample_rate)
        self.encoder.text_embeddings([self.label_text("silence")])

    def label_text(self, label: str) -> str:
        """The text CLAP embeds for one label: ``label_template`` with the label in place of ``{}``."""
        return self.label_template.replace("{}", label)

    def label_embeddings(self, choices: tuple[str, ...]) -> Any:
        """Normalised text embeddings of ``choices`` (computed once per distinct tuple, until ``unload``)."""
        cached = self._text_cache.get(choices)
        if cached is not None:
            self.text_cache_hits += 1
            return cached
        self.text_cache_misses += 1
        embeddings = self.encoder.text_embeddings([self.label_text(label) for label in choices])
        self._text_cache[choices] = embeddings
        return embeddings

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        if not requests:
            return []
        missing = [r for r in requests if not r.choices]
        if missing:
            ids = ", ".join(repr(r.sample.id) for r in missing[:5]) + (" ..." if len(missing) > 5 else "")
            task = missing[0].task or "unknown"
            raise AudioLLMError(
                f"model '{self.options.name}' (CLAP) is a zero-shot classifier that answers with one of the "
                f"benchmark's choices, but sample {ids} (task '{task}') came with none. List the labels under "
                "`choices:` in the benchmark YAML, or run CLAP only on classification benchmarks that do."
            )
        audio = self.encoder.audio_embeddings([self._audio(r) for r in requests], self.sample_rate)
        answers = []
        for row, request in zip(audio, requests, strict=True):
            scores = self.label_embeddings(request.choices) @ row
            answers.append(request.choices[int(scores.argmax())])
        return answers

    def _audio(self, request: Request) -> npt.NDArray[Any]:
        if request.sample_rate == self.sample_rate:
            return request.audio
        import soxr

        return soxr.resample(request.audio, request.sample_rate, self.sample_rate)  # type: ignore[no-any-return]

    def unload(self) -> None:
        """Free the weights and the cached label embeddings (the cache counters restart at 0)."""
        self._text_cache.clear()
        self.text_cache_hits = self.text_cache_misses = 0
        self.encoder.unload()

    def fingerprint(self) -> str:
        """``clap:`` + the checkpoint's content fingerprint + the label template (it changes the answers)."""
        return f"clap:{self.checkpoint.fingerprint()}:{self.label_template}"


def clap_factory(options: ModelOptions) -> ClapZeroShot:
    """The factory behind ``--audiollm-model clap``."""
    return ClapZeroShot(options)
