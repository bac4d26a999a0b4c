"""Settings: the command-line options and ini keys of the plugin, parsed and validated once."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_audiollm.conditions import ThresholdOverride, ThresholdSyntaxError, parse_threshold_option
from pytest_audiollm.redact import redact_credentials
from pytest_audiollm.units import parse_size

DEVICES = re.compile(r"^(cpu|auto|cuda|cuda:\d+|mps)$")
QUANTIZE = ("auto", "8bit", "4bit", "none")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _threshold(text: str) -> str:
    try:
        parse_threshold_option(text)
    except ThresholdSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device(text: str) -> str:
    if not DEVICES.match(text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: use cpu, cuda, cuda:N, mps or auto")
    return text


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r} (numpy seeds cannot be negative)")
    return value


def _model_arg(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (for example dtype=bfloat16), got {text!r}")
    return text


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("audiollm", "audio model benchmarks (pytest-audiollm)")
    add = group.addoption
    add(
        "--audiollm-model",
        action="append",
        default=[],
        metavar="NAME",
        dest="audiollm_model",
        help="model to evaluate (repeatable): a registered name, or hf:PATH_OR_REPO. Ini: audiollm_models.",
    )
    add(
        "--audiollm-benchmark",
        action="append",
        default=[],
        metavar="NAME_OR_PATH",
        dest="audiollm_benchmark",
        help="benchmark to run (repeatable): a registered name (demo, ...) or a benchmark YAML file.",
    )
    add(
        "--audiollm-limit",
        type=_positive_int,
        default=None,
        metavar="N",
        dest="audiollm_limit",
        help="run only the first N samples of each benchmark (deterministic order).",
    )
    add(
        "--audiollm-batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        dest="audiollm_batch_size",
        help="samples per predict() call (default 1; ini: audiollm_batch_size).",
    )
    add(
        "--audiollm-device",
        type=_device,
        default=None,
        metavar="DEVICE",
        dest="audiollm_device",
        help="where models run: cpu, cuda, cuda:N, mps or auto (default auto; ini: audiollm_device).",
    )
    add(
        "--audiollm-memory-budget",
        type=parse_size,
        default=None,
        metavar="SIZE",
        dest="audiollm_memory_budget",
        help="memory a model may take on its device (VRAM, or RAM on cpu), e.g. 24GiB. Larger models are skipped.",
    )
    add(
        "--audiollm-quantize",
        choices=QUANTIZE,
        default=None,
        dest="audiollm_quantize",
        help="bitsandbytes quantization of hf-based models: 8bit (LLM.int8), 4bit (NF4), none (default), or auto: "
        "unquantized if the model fits the memory budget (and the GPUs), else the first of 8bit, 4bit that fits. "
        "Needs pip install 'pytest-audiollm[quantize]'; works on CPU too. Other models ignore it.",
    )
    add(
        "--audiollm-adapter",
        default=None,
        metavar="PATH",
        dest="audiollm_adapter",
        help="a peft LoRA adapter directory (adapter_config.json + adapter_model.safetensors) loaded onto hf-based "
        "models; its sha256 joins the model fingerprint. Needs pip install 'pytest-audiollm[lora]'.",
    )
    add(
        "--audiollm-trust-remote-code",
        action="store_true",
        default=False,
        dest="audiollm_trust_remote_code",
        help="let transformers run the Python code a checkpoint ships (trust_remote_code=True). Off by default: "
        "enable it only for checkpoints you trust. The model arg trust_remote_code is not accepted.",
    )
    add(
        "--audiollm-strict",
        action="store_true",
        default=False,
        dest="audiollm_strict",
        help="fail (instead of skip) the items of a model that does not fit the memory budget.",
    )
    add(
        "--audiollm-allow-skipped-gates",
        action="store_true",
        default=False,
        dest="audiollm_allow_skipped_gates",
        help="skip, instead of fail, a gate with a threshold whose metric cannot be computed (a missing Java "
        "runtime, backbone checkpoint or model dependency; no sample of it scored). Off by default, so that a CI "
        "gate never passes unchecked.",
    )
    add(
        "--audiollm-results",
        default=None,
        metavar="PATH",
        dest="audiollm_results",
        help="write the JSON results file (scores, CIs, gates, per-sample predictions) to PATH.",
    )
    add(
        "--audiollm-threshold",
        action="append",
        default=[],
        type=_threshold,
        metavar="BENCH:METRIC EXPR",
        dest="audiollm_threshold",
        help="add or override a gate, e.g. 'demo-asr:wer<=0.3' or 'demo-asr:wer ci_high<=0.4' (BENCH may be *).",
    )
    add(
        "--audiollm-seed",
        type=_non_negative_int,
        default=None,
        metavar="N",
        dest="audiollm_seed",
        help="seed for the bootstrap and for models (default 0).",
    )
    add(
        "--audiollm-bootstrap",
        type=int,
        default=None,
        metavar="N",
        dest="audiollm_bootstrap",
        help="bootstrap resamples for the 95%% confidence intervals (default 1000, 0 turns CIs off).",
    )
    add(
        "--audiollm-model-arg",
        action="append",
        default=[],
        type=_model_arg,
        metavar="KEY=VALUE",
        dest="audiollm_model_arg",
        help="option passed to model factories, e.g. dtype=bfloat16 (repeatable).",
    )
    add(
        "--audiollm-baseline",
        default=None,
        metavar="PATH",
        dest="audiollm_baseline",
        help="compare with this results file: every metric is gated against its baseline value (paired test).",
    )
    add(
        "--audiollm-save-baseline",
        default=None,
        metavar="PATH",
        dest="audiollm_save_baseline",
        help="write this run's results (per-sample, with full identity) to PATH as a baseline.",
    )
    add(
        "--audiollm-list",
        action="store_true",
        default=False,
        dest="audiollm_list",
        help="list registered models, benchmarks and metrics, then exit.",
    )
    parser.addini("audiollm_models", "default models when --audiollm-model is not given", type="linelist", default=[])
    parser.addini("audiollm_batch_size", "default --audiollm-batch-size", default="1")
    parser.addini("audiollm_device", "default --audiollm-device", default="auto")
    parser.addini("audiollm_memory_budget", "default --audiollm-memory-budget", default="")
    parser.addini("audiollm_results", "default --audiollm-results", default="")


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ()  # as shown and recorded: credentials in a URL are *** (pytest_audiollm.redact)
    benchmarks: tuple[str, ...] = ()
    limit: int | None = None
    batch_size: int = 1
    device: str = "auto"
    memory_budget: int | None = None
    strict: bool = False
    allow_skipped_gates: bool = False
    results_path: str | None = None
    baseline_path: str | None = None
    save_baseline_path: str | None = None
    thresholds: tuple[ThresholdOverride, ...] = ()
    seed: int = 0
    bootstrap: int = 1000
    model_args: dict[str, Any] = field(default_factory=dict)
    quantize: str | None = None  # None: not given (the model arg, else "none")
    adapter: str | None = None  # absolute path of a LoRA adapter directory
    trust_remote_code: bool = False
    # the spec as typed, for the models whose shown name hides credentials; only the model factory receives it
    model_specs: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return bool(self.models or self.benchmarks)

    def model_spec(self, name: str) -> str:
        """The spec of model ``name`` (a shown name) as the user typed it, credentials included."""
        return self.model_specs.get(name, name)

    def model_extra(self, name: str | None = None) -> dict[str, Any]:
        """``ModelOptions.extra`` of model ``name``: the model args, then the options that override them.

        A model arg ``NAME.KEY=VALUE`` whose NAME is a selected model applies to that model only (as ``KEY``,
        over a plain ``KEY``), so one session can point two models at different checkpoints.
        ``trust_remote_code`` comes from ``--audiollm-trust-remote-code`` only; ``quantize`` and ``adapter`` from
        their options when given (a ``quantize=`` model arg still applies when the option is not given).
        """
        scoped = tuple(f"{model}." for model in (*self.models, *self.model_specs.values()))
        extra = {k: v for k, v in self.model_args.items() if not k.startswith(scoped)}
        if name is not None:
            for prefix in dict.fromkeys((f"{name}.", f"{self.model_spec(name)}.")):
                extra.update({k[len(prefix) :]: v for k, v in self.model_args.items() if k.startswith(prefix)})
        extra["trust_remote_code"] = self.trust_remote_code
        if self.quantize is not None:
            extra["quantize"] = self.quantize
        if self.adapter is not None:
            extra["adapter"] = self.adapter
        return extra


def settings_from_config(config: pytest.Config) -> Settings:
    opt = config.option

    def ini(name: str) -> str:
        return str(config.getini(name) or "").strip()

    try:
        budget = opt.audiollm_memory_budget
        if budget is None and ini("audiollm_memory_budget"):
            budget = parse_size(ini("audiollm_memory_budget"))
        batch = opt.audiollm_batch_size or _positive_int(ini("audiollm_batch_size") or "1")
        device = opt.audiollm_device or _device(ini("audiollm_device") or "auto")
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"pytest-audiollm ini option: {exc}") from None
    models = tuple(opt.audiollm_model) or tuple(str(m) for m in config.getini("audiollm_models"))
    model_args = dict(_split_arg(a) for a in opt.audiollm_model_arg)
    if "trust_remote_code" in model_args:
        raise pytest.UsageError(
            "pytest-audiollm: --audiollm-model-arg trust_remote_code=... is not accepted: pass "
            "--audiollm-trust-remote-code to let transformers run the code a checkpoint ships "
            "(only for checkpoints you trust)"
        )
    adapter = opt.audiollm_adapter
    shown = _shown_models(models)
    return Settings(
        models=tuple(shown),
        model_specs={name: spec for name, spec in shown.items() if name != spec},
        benchmarks=tuple(dict.fromkeys(opt.audiollm_benchmark)),
        limit=opt.audiollm_limit,
        batch_size=batch,
        device=device,
        memory_budget=budget,
        strict=bool(opt.audiollm_strict),
        allow_skipped_gates=bool(opt.audiollm_allow_skipped_gates),
        results_path=opt.audiollm_results or ini("audiollm_results") or None,
        baseline_path=str(config.invocation_params.dir / opt.audiollm_baseline) if opt.audiollm_baseline else None,
        save_baseline_path=opt.audiollm_save_baseline,
        thresholds=tuple(parse_threshold_option(t) for t in opt.audiollm_threshold),
        seed=opt.audiollm_seed if opt.audiollm_seed is not None else 0,
        bootstrap=opt.audiollm_bootstrap if opt.audiollm_bootstrap is not None else 1000,
        model_args=model_args,
        quantize=opt.audiollm_quantize,
        adapter=str(config.invocation_params.dir / adapter) if adapter else None,
        trust_remote_code=bool(opt.audiollm_trust_remote_code),
    )


def _shown_models(specs: tuple[str, ...]) -> dict[str, str]:
    """Shown name -> spec of each model, in order, once each; credentials in a spec's URL are hidden."""
    shown: dict[str, str] = {}
    for spec in specs:
        name = redact_credentials(spec)
        if shown.get(name, spec) != spec:
            raise pytest.UsageError(
                f"pytest-audiollm: two --audiollm-model values differ only in the credentials of their URL "
                f"({name}): results could not tell them apart; give each server its own URL"
            )
        shown[name] = spec
    return shown


def _split_arg(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, lists); a value that is not valid YAML
    (``prompt=[oops``) stays the string it is."""
    key, _, value = text.partition("=")
    import yaml

    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed
