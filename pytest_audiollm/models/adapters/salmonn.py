"""The ``salmonn`` model adapter: ByteDance/Tsinghua SALMONN through the code of its repository.

SALMONN (branch ``salmonn`` of https://github.com/bytedance/SALMONN) is neither a package nor in transformers:
the user clones it and points the plugin at the clone with ``--audiollm-model-arg repo=/path/to/SALMONN`` (or
``$AUDIOLLM_SALMONN_REPO``). The repository's ``models`` package is imported from there, under a private module
name so that its generic top-level names (``models``, ``utils``, ``config``) cannot clash with other code, and
used the way its ``cli_inference.py`` uses it:

- the YAML config (``config=``, default ``REPO/configs/decode_config.yaml``) gives the ``model:`` and
  ``generate:`` sections; the checkpoint paths in it are replaced by the model args ``llama_path`` (alias
  ``vicuna_path``: vicuna-13b-v1.1), ``whisper_path`` (whisper-large-v2), ``beats_path`` (BEATs iter3+ AS2M
  cpt2) and ``ckpt`` (``salmonn_v1.pth`` from tsinghua-ee/SALMONN); the prompt files it names relative to the
  repository are resolved there;
- ``SALMONN.from_config(model_section)``, ``.to(device).eval()``, and
  ``transformers.WhisperFeatureExtractor.from_pretrained(whisper_path)``;
- each request is prepared as the repository's ``prepare_one_sample`` does, from memory instead of a file: mono,
  zero-padded to at least 1 s, at most 30 s, Whisper log-mel features plus the raw wave for BEATs; a batch pads
  the raw waves and marks the padding in ``padding_mask`` (as its dataset's ``collater``);
- the prompt is ``prompt_template.format("<Speech><SpeechHere></Speech> " + prompt)``, template
  ``USER: {}\\nASSISTANT:`` (unless the prompt already holds ``<SpeechHere>``);
- ``model.generate(samples, generate_section, prompts=prompts)`` under float16 autocast on CUDA (as the CLI);
  Vicuna's special tokens (``</s>`` and what follows, ``<s>``, ``<unk>``) are cut from the decoded texts.

SALMONN hears at most 30 s, so ``max_audio_seconds = 30``: longer clips arrive as 30 s windows (hop
``window_hop_seconds``, default 30) joined by the plugin's default join. Generation settings come from the
``generate:`` section; ``max_new_tokens`` and ``num_beams`` model args override it. SALMONN's ``generate`` puts
its stop token on ``.cuda()``, so it runs on CUDA only; its repository pins transformers 4.28 / peft 0.3.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_audiollm.errors import AudioLLMError, MissingDependency, ModelOutputError
from pytest_audiollm.models.checkpoint import Checkpoint
from pytest_audiollm.models.memory import release_torch_memory
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request, silence_request

__all__ = ["ENV_REPO", "SALMONNModel", "salmonn_factory"]

ENV_REPO = "AUDIOLLM_SALMONN_REPO"
CLONE = "git clone -b salmonn https://github.com/bytedance/SALMONN"
DEFAULT_CONFIG = "configs/decode_config.yaml"
DEFAULT_TEMPLATE = "USER: {}\nASSISTANT:"
SPEECH_TAG = "<Speech><SpeechHere></Speech> "
WINDOW_SECONDS = 30.0
_NEEDED_FOR = "the salmonn model adapter (SALMONN)"
_PATHS = {  # model-section key -> what it is (for messages)
    "llama_path": "the Vicuna LLM directory (vicuna-13b-v1.1)",
    "whisper_path": "the whisper-large-v2 directory",
    "beats_path": "the BEATs checkpoint (BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt)",
    "ckpt": "the SALMONN checkpoint (salmonn_v1.pth)",
}
_SPECIAL = ("<s>", "<unk>", "[PAD]")


class SALMONNNotFound(MissingDependency):
    """No SALMONN repository (or a package its code imports is missing): items skip with what to install."""

    def __init__(self, package: str, why: str, install: str) -> None:
        AudioLLMError.__init__(self, f"{_NEEDED_FOR} {why}")
        self.package = package
        self.needed_for = _NEEDED_FOR
        self.install = install


def _repo_missing(why: str) -> SALMONNNotFound:
    return SALMONNNotFound(
        "SALMONN",
        f"{why}. SALMONN is not a package: clone it (`{CLONE}`), install its requirements "
        "(`pip install -r SALMONN/requirements.txt`), then pass the clone with "
        f"--audiollm-model-arg repo=/path/to/SALMONN or ${ENV_REPO}, and the checkpoints with "
        "--audiollm-model-arg llama_path=... whisper_path=... beats_path=... ckpt=...",
        CLONE,
    )


def _number(options: ModelOptions, key: str, default: int) -> int:
    raw = options.extra.get(key, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise AudioLLMError(f"model '{options.name}': {key}={raw!r} is not a whole number") from None
    if value < 1:
        raise AudioLLMError(f"model '{options.name}': {key} must be at least 1")
    return value


def _file_digest(digest: Any, path: Path) -> None:
    """Name-free content identity of one (possibly huge) file: its size and 16 evenly spaced 64 KiB chunks."""
    size = path.stat().st_size
    digest.update(f"{size}\0".encode())
    with path.open("rb") as fh:
        for i in range(16):
            fh.seek(size * i // 16)
            digest.update(fh.read(1 << 16))


def _weight_files(directory: Path) -> Iterator[Path]:
    for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth"):
        yield from sorted(directory.glob(pattern))


class SALMONNModel(AudioModel):
    """SALMONN behind ``--audiollm-model salmonn``, from a local clone of its repository."""

    sample_rate = 16000
    max_audio_seconds = WINDOW_SECONDS

    def __init__(self, options: ModelOptions) -> None:
        super().__init__(options)
        extra = options.extra
        repo_arg = extra.get("repo") or os.environ.get(ENV_REPO, "")
        if not repo_arg:
            raise _repo_missing(f"needs a clone of the SALMONN repository and none was given (repo=, ${ENV_REPO})")
        self.repo = Path(str(repo_arg)).expanduser().resolve()
        if not (self.repo / "models" / "salmonn.py").is_file():
            raise _repo_missing(f"found no SALMONN checkout at {self.repo} (no models/salmonn.py there)")
        config_path = Path(str(extra.get("config") or self.repo / DEFAULT_CONFIG)).expanduser()
        self.model_config, self.generate_config = self._read_config(config_path)
        try:
            hop = float(extra.get("window_hop_seconds", WINDOW_SECONDS))
        except (TypeError, ValueError):
            raise AudioLLMError(f"model '{options.name}': window_hop_seconds must be a number of seconds") from None
        if not 0 < hop <= WINDOW_SECONDS:
            raise AudioLLMError(
                f"model '{options.name}': window_hop_seconds={hop:g} must be more than 0 and at most {WINDOW_SECONDS:g}"
            )
        self.window_hop_seconds = hop
        self.prompt_template = str(self.model_config.get("prompt_template") or DEFAULT_TEMPLATE)
        self._model: Any = None
        self._features: Any = None
        self._device = "cpu"

    def _read_config(self, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``model:`` and ``generate:`` sections, with the model args' paths and settings applied."""
        import yaml

        name = self.options.name
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise AudioLLMError(f"model '{name}': cannot read the SALMONN config {path}: {exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("model", {}), dict):
            raise AudioLLMError(f"model '{name}': {path} is not a SALMONN config (no 'model:' mapping)")
        model = dict(raw.get("model") or {})
        generate = dict(raw.get("generate") or {})
        extra = self.options.extra
        for key in _PATHS:
            value = extra.get(key) or (extra.get("vicuna_path") if key == "llama_path" else None)
            if value:
                model[key] = str(Path(str(value)).expanduser())
        for key in ("prompt_path", "test_prompt_path"):  # written relative to the repository in its configs
            value = model.get(key)
            if value and not Path(str(value)).is_absolute():
                model[key] = str(self.repo / str(value))
        problems = []
        for key, what in _PATHS.items():
            value = str(model.get(key) or "")
            if key == "beats_path" and not value:
                continue  # SALMONN runs without BEATs (Whisper only)
            if not value or not Path(value).exists():
                problems.append(f"{key} ({what}): {value or 'not set'}")
        if problems:
            raise AudioLLMError(
                f"model '{name}': SALMONN's checkpoint paths do not exist: {'; '.join(problems)}. Set them with "
                f"--audiollm-model-arg KEY=PATH or in the config ({path})."
            )
        generate["max_new_tokens"] = _number(self.options, "max_new_tokens", int(generate.get("max_new_tokens", 200)))
        generate["num_beams"] = _number(self.options, "num_beams", int(generate.get("num_beams", 4)))
        return model, generate

    # -- memory --------------------------------------------------------------------------------------------------

    def memory_estimate(self) -> int | None:
        """Bytes once loaded: Vicuna in float16 + the Whisper encoder in float32 + the BEATs and SALMONN files.

        Vicuna: its safetensors headers, else its weight files' sizes rescaled from the config's dtype; the
        Whisper encoder: ``encoder_layers x 12 d_model^2`` + convolutions + positions (from its config.json) x 4
        bytes; BEATs and the SALMONN checkpoint (Q-Former, projection, LoRA): their file sizes. None when the
        Vicuna weights cannot be found.
        """
        llama = Path(self.model_config["llama_path"])
        checkpoint = Checkpoint(str(llama))
        vicuna = checkpoint.estimate_bytes("float16") if checkpoint.is_local else None
        if vicuna is None and llama.is_dir():
            stored = sum(p.stat().st_size for p in _weight_files(llama))
            vicuna = stored * 2 // checkpoint.config_dtype_bytes() if stored else None
        if vicuna is None:
            return None
        whisper = Path(self.model_config["whisper_path"]) / "config.json"
        try:
            cfg = json.loads(whisper.read_text())
            d, layers = int(cfg["d_model"]), int(cfg["encoder_layers"])
            mels, positions = int(cfg.get("num_mel_bins", 80)), int(cfg.get("max_source_positions", 1500))
            encoder = layers * 12 * d * d + 3 * d * (mels + d) + positions * d
        except (OSError, ValueError, KeyError, TypeError):
            encoder = 636_000_000  # whisper-large-v2's encoder
        files = [Path(str(self.model_config.get(k) or "")) for k in ("beats_path", "ckpt")]
        return vicuna + encoder * 4 + sum(p.stat().st_size for p in files if p.is_file())

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def _import_salmonn(self) -> Any:
        """The repository's ``models.salmonn.SALMONN``, imported as a private package of this repository."""
        name = "_audiollm_salmonn_" + hashlib.sha256(str(self.repo).encode()).hexdigest()[:12]
        module = sys.modules.get(name)
        if module is None:
            package = self.repo / "models"
            spec = importlib.util.spec_from_file_location(
                name, package / "__init__.py", submodule_search_locations=[str(package)]
            )
            if spec is None or spec.loader is None:
                raise _repo_missing(f"cannot import {package}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except ImportError as exc:  # a missing package, or one too new for SALMONN's 2023 code
                for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                    del sys.modules[key]
                install = f"pip install -r {self.repo / 'requirements.txt'}"
                if isinstance(exc, ModuleNotFoundError):
                    package_name = (exc.name or "?").split(".")[0]
                    why = f"needs the '{package_name}' package, which SALMONN's code imports and is not installed"
                else:
                    package_name = (exc.name or "transformers").split(".")[0]
                    why = f"cannot import SALMONN's code with the installed packages ({exc})"
                raise SALMONNNotFound(
                    package_name,
                    f"{why}: SALMONN pins transformers==4.28.0, peft==0.3.0 and torch==2.0.1; run pytest-audiollm in "
                    f"an environment made with `{install}`",
                    install,
                ) from exc
        return module.SALMONN

    def load(self, device: str) -> None:
        salmonn = self._import_salmonn()
        try:
            import transformers
        except ImportError as exc:
            raise SALMONNNotFound("transformers", "needs transformers", "pip install transformers") from exc
        model = salmonn.from_config(self.model_config)
        self._model = model.to(device).eval()
        self._features = transformers.WhisperFeatureExtractor.from_pretrained(self.model_config["whisper_path"])
        self._device = device

    def warmup(self) -> None:
        """One short generation on a second of silence (first CUDA kernels), not a full beam search."""
        self._generate([silence_request(self.sample_rate, 1.0)], max_new_tokens=2)

    def unload(self) -> None:
        self._model = None
        self._features = None
        release_torch_memory()

    # -- inference -----------------------------------------------------------------------------------------------

    def prompt(self, text: str) -> str:
        """The full prompt of one request (the repository's template around the speech placeholder)."""
        text = text.strip()
        return self.prompt_template.format(text if "<SpeechHere>" in text else SPEECH_TAG + text)

    def samples(self, requests: Sequence[Request]) -> dict[str, Any]:
        """SALMONN's input batch: Whisper features, the raw waves (>= 1 s, <= 30 s) and their padding mask."""
        import numpy as np
        import torch

        rate = self.sample_rate
        waves = []
        for request in requests:
            audio = np.asarray(request.audio, dtype=np.float32).reshape(-1)
            if request.sample_rate != rate:
                import soxr

                audio = soxr.resample(audio, request.sample_rate, rate).astype(np.float32)
            if len(audio) < rate:
                audio = np.concatenate([audio, np.zeros(rate - len(audio), dtype=np.float32)])
            waves.append(audio[: int(rate * WINDOW_SECONDS)])
        spectrogram = self._features(waves, sampling_rate=rate, return_tensors="pt")["input_features"]
        lengths = torch.tensor([len(w) for w in waves])
        raw_wav = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in waves], batch_first=True)
        padding_mask = torch.arange(raw_wav.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
        return {
            "spectrogram": spectrogram.to(self._device),
            "raw_wav": raw_wav.to(self._device),
            "padding_mask": padding_mask.to(self._device),
        }

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        if not requests:
            return []
        return self._generate(requests)

    def _generate(self, requests: Sequence[Request], max_new_tokens: int | None = None) -> list[str]:
        if self._model is None:
            raise ModelOutputError(f"model '{self.options.name}': predict() called before load()")
        import torch

        samples = self.samples(requests)
        prompts = [self.prompt(r.prompt) for r in requests]
        config = dict(self.generate_config)
        if max_new_tokens is not None:
            config["max_new_tokens"] = max_new_tokens
        cuda = self._device.startswith("cuda")
        autocast = torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()
        torch.manual_seed(self.options.seed)
        try:
            with torch.inference_mode(), autocast:
                texts = self._model.generate(samples, config, prompts=prompts)
        except (AssertionError, RuntimeError) as exc:
            if not cuda and "cuda" in str(exc).lower():
                raise AudioLLMError(
                    f"model '{self.options.name}': SALMONN's generate() needs a CUDA GPU (its models/salmonn.py puts "
                    f"the stop token on .cuda()); run with --audiollm-device cuda ({type(exc).__name__}: {exc})"
                ) from exc
            raise
        if len(texts) != len(requests):
            raise ModelOutputError(
                f"model '{self.options.name}': SALMONN generate() gave {len(texts)} texts for {len(requests)} requests"
            )
        return [self.clean(str(text)) for text in texts]

    @staticmethod
    def clean(text: str) -> str:
        """A decoded answer without Vicuna's special tokens (``batch_decode`` keeps them): cut at ``</s>``."""
        text = text.split("</s>", 1)[0]
        for token in _SPECIAL:
            text = text.replace(token, "")
        return text.strip()

    # -- identity ------------------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """``salmonn:`` + sha256 over the repository's model code, the config, and the checkpoints' contents.

        Vicuna and Whisper through :meth:`Checkpoint.fingerprint` (config, weight names, sizes, headers, samples);
        BEATs and the SALMONN checkpoint by size and 16 sampled chunks. Paths themselves are not included.
        """
        digest = hashlib.sha256()
        digest.update((self.repo / "models" / "salmonn.py").read_bytes())
        settings = {k: v for k, v in self.model_config.items() if k not in _PATHS and not k.endswith("prompt_path")}
        digest.update(json.dumps([settings, self.generate_config], sort_keys=True, default=str).encode())
        for key in ("llama_path", "whisper_path"):
            digest.update(Checkpoint(str(self.model_config[key])).fingerprint().encode())
        for key in ("beats_path", "ckpt"):
            path = Path(str(self.model_config.get(key) or ""))
            if path.is_file():
                _file_digest(digest, path)
        return f"salmonn:{digest.hexdigest()}"


def salmonn_factory(options: ModelOptions) -> SALMONNModel:
    """The factory behind ``--audiollm-model salmonn``."""
    return SALMONNModel(options)
