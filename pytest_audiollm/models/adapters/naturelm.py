"""The ``naturelm`` model adapter: EarthSpecies NatureLM-audio through its own package (``NatureLM``).

NatureLM-audio is not on PyPI and not in transformers; its repository is a package named ``NatureLM``
(``pip install git+https://github.com/earthspecies/NatureLM-audio``). This adapter imports it only in
``load()`` and uses its own call surface, the one its ``Pipeline`` and BEANS-Zero script use:

- ``NatureLM.models.NatureLM.from_pretrained(PATH_OR_REPO, revision=...)``, then ``.to(device).eval()``, with
  the tokenizer's pad token set to its EOS token (as NatureLM's ``load_model_and_config`` does);
- ``NatureLM.processors.NatureLMAudioProcessor(sample_rate=16000, max_length_seconds=10)`` turns a batch of
  windows and prompts into a ``[B, 160000]`` tensor (mono, zero-padded to 10 s, clamped to [-1, 1]) and Llama-3
  chat prompts (``<|start_header_id|>user<|end_header_id|>\\n\\n<Audio><AudioHere></Audio> {prompt}<|eot_id|>
  <|start_header_id|>assistant<|end_header_id|>\\n\\n``);
- ``model.generate({"raw_wav", "padding_mask", "audio_chunk_sizes": 1, "prompt"}, GenerateConfig, prompts)``
  returns one text per window.

**Windows.** NatureLM hears 10 s at a time (its processor cuts anything longer). The plugin, not NatureLM's
``Pipeline``, cuts long clips: ``max_audio_seconds = 10`` and ``window_hop_seconds`` (default 10, no overlap;
``--audiollm-model-arg window_hop_seconds=5`` for half-overlapping windows, at most 10 so no audio is skipped).
The last window ends with the clip (NatureLM's Pipeline instead drops a trailing partial window). The windows of
a batch of samples go to ``generate`` together. For the ``species`` task the answers are joined in NatureLM's
own output format, one ``#0.00s - 10.00s#: text`` line per window with the window's real start and end in the
clip, which the ``species_accuracy`` metric parses; for other tasks the answers are joined with spaces. A clip
that fits one window gets NatureLM's answer as it is.

Settings (``--audiollm-model-arg KEY=VALUE``): ``path`` (a local checkpoint directory; default the hub repo
``EarthSpeciesProject/NatureLM-audio``), ``revision`` (hub branch, tag or commit), ``window_hop_seconds``,
``max_new_tokens`` (default 300), ``num_beams`` (default 2) and ``merging_alpha`` (default 1.0, NatureLM's LoRA
merging toward Llama; 0.4-0.6 suggested by its authors); the other generation settings are NatureLM's
``configs/inference.yml`` values (no sampling, temperature 0.1, min_length 1, penalties 1.0).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency, ModelOutputError
from pytest_audiollm.models.checkpoint import Checkpoint
from pytest_audiollm.models.memory import release_torch_memory
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request, silence_request

__all__ = ["DEFAULT_REPO", "INSTALL", "NatureLMAudio", "naturelm_factory"]

DEFAULT_REPO = "EarthSpeciesProject/NatureLM-audio"
INSTALL = "pip install git+https://github.com/earthspecies/NatureLM-audio"
WINDOW_SECONDS = 10.0
PARAMETERS = 8_200_000_000  # Llama-3.1-8B (8.03B) + BEATs (~90M) + window-level Q-Former, projection and LoRA
_NEEDED_FOR = "the naturelm model adapter (NatureLM-audio)"
# NatureLM's configs/inference.yml generation settings (the ones not exposed as model args)
_GENERATE_FIXED: dict[str, Any] = {
    "do_sample": False,
    "min_length": 1,
    "temperature": 0.1,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
}


class NatureLMNotInstalled(MissingDependency):
    """The ``NatureLM`` package (or a package it imports) is missing: items skip with the install command."""

    def __init__(self, package: str) -> None:
        if package == "NatureLM":
            how = (
                f"NatureLM-audio is not on PyPI: install it from its repository with `{INSTALL}` (or clone it and "
                "`pip install -e .`)"
            )
            install = INSTALL
        else:
            how = f"NatureLM-audio imports it: `pip install {package}` (or reinstall NatureLM-audio with `{INSTALL}`)"
            install = f"pip install {package}"
        AudioLLMError.__init__(
            self,
            f"{_NEEDED_FOR} needs the '{package}' package, which is not installed. {how}. Its weights build on the "
            "gated meta-llama/Meta-Llama-3.1-8B-Instruct: request access on Hugging Face and log in "
            "(`hf auth login` or HF_TOKEN).",
        )
        self.package = package
        self.needed_for = _NEEDED_FOR
        self.install = install


def _number(options: ModelOptions, key: str, default: float, *, integer: bool = False) -> float:
    raw = options.extra.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise AudioLLMError(f"model '{options.name}': {key}={raw!r} is not a number") from None
    if integer and value != int(value):
        raise AudioLLMError(f"model '{options.name}': {key}={raw!r} is not a whole number")
    return value


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:  # NatureLM itself, or one of its dependencies (peft, resampy, torchaudio)
        raise NatureLMNotInstalled((exc.name or "NatureLM").split(".")[0]) from exc


class NatureLMAudio(AudioModel):
    """NatureLM-audio behind ``--audiollm-model naturelm``: 10 s windows, answers joined as NatureLM lines."""

    sample_rate = 16000
    max_audio_seconds = WINDOW_SECONDS

    def __init__(self, options: ModelOptions) -> None:
        super().__init__(options)
        if importlib.util.find_spec("NatureLM") is None:
            raise NatureLMNotInstalled("NatureLM")
        extra = options.extra
        self.target = str(extra.get("path") or options.target or DEFAULT_REPO)
        revision = extra.get("revision")
        self.revision: str | None = str(revision) if revision else None
        self.checkpoint = Checkpoint(self.target, self.revision, needed_for=_NEEDED_FOR)
        hop = _number(options, "window_hop_seconds", WINDOW_SECONDS)
        if not 0 < hop <= WINDOW_SECONDS:
            raise AudioLLMError(
                f"model '{options.name}': window_hop_seconds={hop:g} must be more than 0 and at most "
                f"{WINDOW_SECONDS:g} (the window; a longer hop would skip audio)"
            )
        self.window_hop_seconds = hop
        self.max_new_tokens = int(_number(options, "max_new_tokens", 300, integer=True))
        self.num_beams = int(_number(options, "num_beams", 2, integer=True))
        self.merging_alpha = _number(options, "merging_alpha", 1.0)
        if self.max_new_tokens < 1 or self.num_beams < 1:
            raise AudioLLMError(f"model '{options.name}': max_new_tokens and num_beams must be at least 1")
        self._model: Any = None
        self._processor: Any = None
        self._config_class: Any = None
        self._device = "cpu"

    # -- memory and lifecycle --------------------------------------------------------------------------------

    def memory_estimate(self) -> int:
        """The weights in bfloat16: from a local checkpoint's safetensors header, else ~8.2B parameters x 2 bytes.

        NatureLM first builds Llama from the gated base repo and then loads its own weights, so host memory
        briefly peaks at about twice this while loading.
        """
        if self.checkpoint.is_local:
            estimate = self.checkpoint.estimate_bytes("bfloat16")
            if estimate:
                return estimate
        return PARAMETERS * 2

    def generation_settings(self, max_new_tokens: int | None = None) -> dict[str, Any]:
        """The keyword arguments of NatureLM's ``GenerateConfig`` this adapter uses."""
        return {
            "max_new_tokens": max_new_tokens or self.max_new_tokens,
            "num_beams": self.num_beams,
            "merging_alpha": self.merging_alpha,
            **_GENERATE_FIXED,
        }

    def load(self, device: str) -> None:
        models = _import("NatureLM.models")
        processors = _import("NatureLM.processors")
        self._config_class = _import("NatureLM.config").GenerateConfig
        kwargs = {"revision": self.revision} if self.revision and not self.checkpoint.is_local else {}
        try:
            model = models.NatureLM.from_pretrained(self.target, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise AudioLLMError(
                f"model '{self.options.name}': NatureLM.from_pretrained({self.target!r}) failed: "
                f"{type(exc).__name__}: {exc}. Give a local checkpoint with --audiollm-model-arg path=DIR or a hub "
                "repo; NatureLM also loads meta-llama/Meta-Llama-3.1-8B-Instruct, a gated repo (request access, then "
                "`hf auth login`)."
            ) from exc
        model = model.to(device).eval()
        tokenizer = model.llama_tokenizer
        tokenizer.pad_token_id = tokenizer.eos_token_id
        model.llama_model.generation_config.pad_token_id = tokenizer.pad_token_id
        self._processor = processors.NatureLMAudioProcessor(
            sample_rate=self.sample_rate, max_length_seconds=int(WINDOW_SECONDS)
        )
        self._model = model
        self._device = device

    def warmup(self) -> None:
        """One short generation on a second of silence (first CUDA kernels), not NatureLM's full 300 tokens."""
        self._generate([silence_request(self.sample_rate, 1.0)], max_new_tokens=2)

    def unload(self) -> None:
        self._model = None
        self._processor = None
        release_torch_memory()

    # -- inference ---------------------------------------------------------------------------------------------

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        if not requests:
            return []
        return self._generate(requests)

    def _generate(self, requests: Sequence[Request], max_new_tokens: int | None = None) -> list[str]:
        if self._model is None:
            raise ModelOutputError(f"model '{self.options.name}': predict() called before load()")
        import torch

        audio, prompts = self._processor(
            [r.audio for r in requests], [r.prompt for r in requests], [r.sample_rate for r in requests]
        )
        raw_wav = audio.to(self._device)
        batch = {
            "raw_wav": raw_wav,
            "padding_mask": torch.zeros_like(raw_wav, dtype=torch.bool),  # NatureLM pads itself; as its Pipeline
            "audio_chunk_sizes": 1,  # one window per row
            "prompt": prompts,
        }
        torch.manual_seed(self.options.seed)
        config = self._config_class(**self.generation_settings(max_new_tokens))
        texts = self._model.generate(batch, config, prompts)
        if len(texts) != len(requests):
            raise ModelOutputError(
                f"model '{self.options.name}': NatureLM generate() gave {len(texts)} texts for {len(requests)} windows"
            )
        return [str(text).strip() for text in texts]

    def join_windows(self, outputs: Sequence[str], windows: Sequence[tuple[float, float]], request: Request) -> str:
        """NatureLM's ``#start - end#: text`` lines for species identification (one line per window), else the
        default join; a window's answer is kept on its line (its own newlines become spaces)."""
        if request.task != "species":
            return super().join_windows(outputs, windows, request)
        return "\n".join(
            f"#{start:.2f}s - {end:.2f}s#: {' '.join(text.split())}"
            for text, (start, end) in zip(outputs, windows, strict=True)
        )

    # -- identity --------------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``naturelm:`` + the checkpoint's content fingerprint, then the package version and generation settings."""
        try:
            version = importlib.metadata.version("NatureLM-audio")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        settings = (
            f"package={version},beams={self.num_beams},max_new_tokens={self.max_new_tokens},"
            f"merging_alpha={self.merging_alpha:g},window={WINDOW_SECONDS:g},hop={self.window_hop_seconds:g}"
        )
        return f"naturelm:{self.checkpoint.fingerprint()}[{settings}]"


def naturelm_factory(options: ModelOptions) -> NatureLMAudio:
    """The factory behind ``--audiollm-model naturelm``."""
    return NatureLMAudio(options)
