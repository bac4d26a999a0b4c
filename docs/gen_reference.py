"""Reference pages generated from the code, at build time (an mkdocs hook: see ``hooks:`` in mkdocs.yml).

A page under ``docs/`` holds markers such as ``<!-- generated: options -->``; ``on_page_markdown`` replaces each
marker with the Markdown that :data:`RENDERERS` makes from the code. An unknown marker, or a YAML key the code
accepts that :data:`YAML_KEY_MEANINGS` does not describe, stops the build with an error, so the docs can never
silently miss an option, a key, a hook or a metric.

ALL access to the package's internals is in the adapter functions right below (``options``, ``ini_keys``,
``hooks``, ``registry_classes``, ``metrics``, ``generation_metrics``, ``task_kinds``, ``task_kind_protocol``,
``yaml_keys``, ``yaml_values``, ``yaml_defaults``, ``results_schema``). When modules move, update those functions
only: everything after them works on plain data (the registry classes and the TaskKind class are handed over as
classes and read with ``inspect``).

Run it alone to print every generated section: ``python docs/gen_reference.py [NAME ...]``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DASH = "\u2013"  # the en dash of empty table cells

# ===================================================================================================================
# Adapters: the only code here that knows where things live inside pytest_audiollm.
# ===================================================================================================================


@dataclasses.dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # ("--audiollm-model",)
    dest: str
    metavar: str | None
    default: Any
    help: str
    action: str | None  # "append", "store_true", None (store)
    choices: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class IniKey:
    name: str
    help: str
    type: str | None
    default: Any


def _collect_options() -> tuple[list[Option], list[IniKey]]:
    """Call the plugin's ``add_options`` on a recording parser (the same calls pytest's Parser receives)."""
    from pytest_audiollm.settings import add_options  # ADAPTER: where the options are declared

    recorded_options: list[Option] = []
    recorded_ini: list[IniKey] = []

    class Group:
        def addoption(self, *flags: str, **kwargs: Any) -> None:
            choices = kwargs.get("choices")
            recorded_options.append(
                Option(
                    flags=tuple(flags),
                    dest=kwargs.get("dest") or flags[0].lstrip("-").replace("-", "_"),
                    metavar=kwargs.get("metavar"),
                    default=kwargs.get("default"),
                    help=str(kwargs.get("help", "")).replace("%%", "%"),
                    action=kwargs.get("action"),
                    choices=tuple(choices) if choices else None,
                )
            )

        _addoption = addoption

    class Parser(Group):
        def getgroup(self, name: str, description: str = "", after: str | None = None) -> Group:
            return self

        def addini(self, name: str, help: str, type: str | None = None, default: Any = None, **_: Any) -> None:
            recorded_ini.append(IniKey(name=name, help=help, type=type, default=default))

    add_options(Parser())  # type: ignore[arg-type]
    return recorded_options, recorded_ini


def options() -> list[Option]:
    """Every command-line option of the plugin, in declaration order."""
    return _collect_options()[0]


def ini_keys() -> list[IniKey]:
    """Every ini key of the plugin (``parser.addini``), in declaration order."""
    return _collect_options()[1]


@dataclasses.dataclass(frozen=True)
class Hook:
    name: str
    signature: str
    doc: str
    historic: bool
    firstresult: bool


def hooks() -> list[Hook]:
    """Every ``pytest_audiollm_*`` hook specification, in source order."""
    import pytest_audiollm.hookspecs as module  # ADAPTER: where the hook specifications live

    found = []
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if not name.startswith("pytest_audiollm_"):
            continue
        spec = getattr(function, "pytest_spec", {}) or {}
        found.append(
            (
                function.__code__.co_firstlineno,
                Hook(
                    name=name,
                    signature=f"{name}{_signature(function)}",
                    doc=inspect.getdoc(function) or "",
                    historic=bool(spec.get("historic")),
                    firstresult=bool(spec.get("firstresult")),
                ),
            )
        )
    return [hook for _, hook in sorted(found, key=lambda pair: pair[0])]


def _signature(function: Callable[..., Any], drop_self: bool = False) -> str:
    """``(registry: ModelRegistry) -> None``: annotations as written (they are strings under PEP 563)."""
    parts = []
    star = False  # the bare `*` before the first keyword-only parameter
    for parameter in inspect.signature(function).parameters.values():
        if drop_self and parameter.name == "self":
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = parameter.name
        if parameter.annotation is not inspect.Parameter.empty:
            annotation = parameter.annotation
            text += f": {annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)}"
        if parameter.default is not inspect.Parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    returns = inspect.signature(function).return_annotation
    tail = (
        ""
        if returns is inspect.Signature.empty
        else f" -> {returns if isinstance(returns, str) else inspect.formatannotation(returns)}"
    )
    return f"({', '.join(parts)}){tail}"


def registry_classes() -> dict[str, type]:
    """The objects the hooks receive as ``registry``, by the name their annotation uses (the five registries)."""
    from pytest_audiollm import (  # ADAPTER: the registries are exported from the package
        BenchmarkRegistry,
        GeneratorRegistry,
        MetricRegistry,
        ModelRegistry,
        TaskKindRegistry,
    )

    classes = (ModelRegistry, GeneratorRegistry, BenchmarkRegistry, MetricRegistry, TaskKindRegistry)
    return {cls.__name__: cls for cls in classes}


def _builtin_registries() -> tuple[Any, Any]:
    """The built-in MetricRegistry (text and generation metrics) and TaskKindRegistry, as a session has them."""
    from pytest_audiollm.builtins import builtin_registries  # ADAPTER

    return builtin_registries()


def _is_generation_metric(metric: Any) -> bool:
    from pytest_audiollm.metrics.generation.protocol import AudioMetric  # ADAPTER: the generation family's base

    return isinstance(metric, AudioMetric)


@dataclasses.dataclass(frozen=True)
class MetricDoc:
    name: str
    version: str
    higher_is_better: bool
    description: str
    reference: str
    kind: str  # "summable" (per-sample statistics) or "corpus"
    stat_names: tuple[str, ...]
    module: str
    class_doc: str


def metrics() -> list[MetricDoc]:
    """Every built-in text metric, as the plugin registers it."""
    from pytest_audiollm.metrics.protocol import Metric  # ADAPTER

    out = []
    for entry in _builtin_registries()[0]:
        metric = entry.value
        if _is_generation_metric(metric):
            continue
        out.append(
            MetricDoc(
                name=entry.name,
                version=str(metric.version),
                higher_is_better=bool(metric.higher_is_better),
                description=str(metric.description),
                reference=str(getattr(metric, "reference", "") or ""),
                kind="summable" if isinstance(metric, Metric) else "corpus",
                stat_names=tuple(getattr(metric, "stat_names", ()) or ()),
                module=type(metric).__module__,
                class_doc=inspect.cleandoc(type(metric).__dict__.get("__doc__") or ""),  # its own, not inherited
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class GenerationMetricDoc:
    name: str
    version: str
    backbone: str | None
    paired: bool
    per_file: bool  # True: FileMetric (a value per generated file); False: DistributionMetric (set against set)
    higher_is_better: bool
    description: str
    reference: str
    module: str
    class_doc: str = ""  # the metric class's own docstring: conventions, version history


def generation_metrics() -> list[GenerationMetricDoc]:
    """The built-in metrics of benchmarks of task ``generation`` (FAD family), in registry order."""
    out = []
    for entry in _builtin_registries()[0]:
        metric = entry.value
        if not _is_generation_metric(metric):
            continue
        out.append(
            GenerationMetricDoc(
                name=entry.name,
                version=str(metric.version),
                backbone=metric.backbone,
                paired=bool(metric.paired),
                per_file=bool(metric.per_file),
                higher_is_better=bool(metric.higher_is_better),
                description=str(metric.description),
                reference=str(getattr(metric, "reference", "") or ""),
                module=type(metric).__module__,
                class_doc=inspect.cleandoc(type(metric).__dict__.get("__doc__") or ""),
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class TaskKindDoc:
    name: str
    tasks: tuple[str, ...]
    keys: tuple[str, ...]  # top-level YAML keys it reads besides the common ones
    subjects: tuple[str, ...]  # the kinds of subject it evaluates ("model", "generator")
    description: str
    module: str


def task_kinds() -> list[TaskKindDoc]:
    """The built-in task kinds, in registration order."""
    return [
        TaskKindDoc(
            name=kind.name,
            tasks=tuple(kind.tasks),
            keys=tuple(kind.keys),
            subjects=tuple(kind.subjects),
            description=str(kind.description),
            module=type(kind).__module__,
        )
        for kind in _builtin_registries()[1].parsers()  # ADAPTER: TaskKindRegistry.parsers() keeps the order
    ]


@dataclasses.dataclass(frozen=True)
class ProtocolMethod:
    name: str
    signature: str
    doc: str
    required: bool  # abstract: a kind must implement it


def task_kind_protocol() -> tuple[str, list[tuple[str, str]], list[ProtocolMethod]]:
    """The TaskKind protocol: its docstring, its class attributes (name, default) and its methods, in source order."""
    from pytest_audiollm import TaskKind  # ADAPTER: the protocol is exported from the package

    attributes = [
        (name, repr(getattr(TaskKind, name))) for name in ("name", "tasks", "keys", "subjects", "description")
    ]
    methods = []
    for name, function in TaskKind.__dict__.items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        methods.append(
            (
                function.__code__.co_firstlineno,
                ProtocolMethod(
                    name=name,
                    signature=f"{name}{_signature(function, drop_self=True)}",
                    doc=inspect.getdoc(function) or "",
                    required=bool(getattr(function, "__isabstractmethod__", False)),
                ),
            )
        )
    doc = inspect.cleandoc(TaskKind.__doc__ or "")
    return doc, attributes, [method for _, method in sorted(methods, key=lambda pair: pair[0])]


@dataclasses.dataclass(frozen=True)
class YamlSection:
    path: str  # "" for the top level, "data", "data.fields", "audio", "generation", ...
    title: str
    keys: tuple[str, ...]
    required: tuple[str, ...]
    key_prefix: str  # how a key of this section is written in full: "data." + key


def yaml_keys() -> list[YamlSection]:
    """The keys a benchmark YAML may hold, section by section (the lists the spec loader checks against)."""
    from pytest_audiollm.benchmarks import spec  # ADAPTER: the common keys
    from pytest_audiollm.tasks.generation import settings as generation  # ADAPTER: the generation block

    folder_keys = generation.FOLDER_DATA_KEYS
    sections = [YamlSection("", "Top level (every task)", spec.COMMON_KEYS, spec.REQUIRED_KEYS, "")]
    for kind in task_kinds():
        if kind.keys:
            tasks = ", ".join(f"`{task}`" for task in kind.tasks)
            sections.append(YamlSection("", f"Top level, task kind `{kind.name}` only ({tasks})", kind.keys, (), ""))
    sections += [
        YamlSection(
            "data",
            "`data:` (every task but folder-against-folder generation)",
            spec.DATA_KEYS,
            ("format", "path"),  # required: checked in spec.parse_data
            "data.",
        ),
        YamlSection("data.fields", "`data.fields:` (manifest field names)", spec.FIELD_KEYS, (), "data.fields."),
        YamlSection("audio", "`audio:`", spec.AUDIO_KEYS, (), "audio."),
        YamlSection(
            "data-folders",
            "`data:` of a folder-against-folder `generation` benchmark",
            tuple(folder_keys),
            ("generated", "reference"),
            "data.",
        ),
        YamlSection(
            "generation", "`generation:` (task `generation` only, all optional)", generation.KEYS, (), "generation."
        ),
    ]
    return sections


def yaml_values() -> dict[str, tuple[str, ...]]:
    """The closed sets of values some keys take, by full key."""
    from pytest_audiollm.benchmarks.data_spec import DATA_FORMATS  # ADAPTER
    from pytest_audiollm.tasks.generation import settings as generation  # ADAPTER
    from pytest_audiollm.tasks.text import settings as text  # ADAPTER

    return {
        "task": tuple(_builtin_registries()[1].task_names()),
        "data.format": tuple(DATA_FORMATS),
        "text_normalizer": tuple(text.TEXT_NORMALIZERS),
        "caption_tokenizer": tuple(text.CAPTION_TOKENIZERS),
        "generation.preset": tuple(generation.PRESETS),
        "generation.mode": tuple(generation.MODES),
    }


def yaml_defaults() -> dict[str, Any]:
    """Defaults of the keys, by full key, read from the dataclasses the YAML is parsed into."""
    from pytest_audiollm.benchmarks.spec import AudioSettings, BenchmarkSpec  # ADAPTER
    from pytest_audiollm.tasks.generation.settings import GenerationSettings  # ADAPTER
    from pytest_audiollm.tasks.text.settings import TextSettings  # ADAPTER

    out: dict[str, Any] = {}
    sources = (("", BenchmarkSpec), ("", TextSettings), ("audio.", AudioSettings), ("generation.", GenerationSettings))
    for prefix, cls in sources:
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING and not dataclasses.is_dataclass(f.default):
                out.setdefault(prefix + f.name, f.default)
    return out


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the results file, as the package ships it."""
    from pytest_audiollm.records.schema import results_schema as shipped  # ADAPTER: records/results.schema.json

    return shipped()


# ===================================================================================================================
# Hand-written knowledge the code does not carry: what each YAML key means. Keyed by full key.
# The build fails when the code accepts a key that is not here, or when a key here no longer exists.
# ===================================================================================================================

YAML_KEY_MEANINGS: dict[str, str] = {
    "name": "Benchmark name: letters, digits, `_ . -` (first a letter or digit); used in item ids.",
    "version": "Goes into the results (`benchmark_version`); bump it when the data or the prompt changes. A "
    "baseline of another version is refused.",
    "task": "What kind of evaluation: the task kind that runs this `task:` value reads the kind's own keys, "
    "accepts only metrics of its family and decides how answers are scored (see [task kinds](#task-kinds)).",
    "description": "Free text for the reader of the file (the plugin keeps it on the spec; it changes no result).",
    "data": "Where the samples come from: a mapping (see `data:` below; for folder-against-folder generation, "
    "see the generation `data:`).",
    "prompt": "The prompt sent with each clip. `{choices}` is replaced by the comma-separated choices. A sample "
    "with its own prompt (manifest field `prompt`) replaces the benchmark prompt, unless the benchmark prompt "
    "contains `{question}`, which is then replaced by the sample's prompt.",
    "choices": "The labels of a classification benchmark (and the options of a `qa` multiple-choice one, in "
    "order). `clap` embeds them; `mcq_accuracy` letters them A, B, ...",
    "synonyms": "Other names that count as a label when matching free text: `{dog: [puppy, barking]}`.",
    "audio": "How clips are prepared before the model sees them (see `audio:` below).",
    "metrics": "The metrics to compute (registered names, see the [metrics reference](metrics.md)); each "
    "becomes a gate item.",
    "thresholds": 'Gates on aggregates: `{metric: "OP NUMBER"}` or `"BOUND OP NUMBER"` with OP one of '
    "`>= <= > <` and BOUND one of `value` (default), `ci_low`, `ci_high`. Only metrics listed in `metrics`.",
    "sample_thresholds": "Optional per-sample assertions, same syntax: a sample whose own score misses it fails "
    "its item.",
    "text_normalizer": "ASR text normaliser applied to references and hypotheses before WER/CER; `basic` is "
    "`basic-1`, `basic-2` folds typographic apostrophes and keeps combining marks (exact definitions: "
    "[metrics reference](metrics.md#text-normalisers)); its version is recorded in the run's `scorers`.",
    "caption_tokenizer": "Captioning tokenizer: `ptb` (Stanford PTBTokenizer, needs Java) or `basic` (no Java).",
    "max_regression": "With `--audiollm-baseline`: tolerated worsening per metric (`{accuracy: 0.01, macro_f1: "
    "off}`); `off` turns the baseline comparison off for that metric, for every task kind (nothing is compared "
    "or recorded). Unlisted metrics tolerate 0, except the generation distribution metrics (`fad`, `fd`, `kid`, "
    "`kad`, `isc`), which are compared by value but gated only when listed here.",
    "regression_level": "Significance level of the paired test against the baseline (between 0 and 1).",
    "generation": "Settings of a `generation` benchmark (see `generation:` below). Any other task refuses it.",
    "data.format": "How the samples are stored (see [data formats](../how-to/data-formats.md)).",
    "data.path": "The manifest, folder, shard, or (`webdataset`) shard pattern: a brace range "
    "`shards/part-{000..009}.tar` or a glob `shards/*.tar`. Relative to the YAML file when it exists (a pattern: "
    "matches) there, else to `$AUDIOLLM_DATA_HOME`; absolute paths, `~` and `$VARS` work.",
    "data.fields": "Manifest field names, when they differ from the defaults (see `data.fields:` below).",
    "data.allow_outside": "`true` lets a manifest's audio paths (and a `folder`'s symlinks) resolve outside the "
    "manifest's folder and `$AUDIOLLM_DATA_HOME` (default `false`: such a sample fails, naming the path). Set it "
    "only for data you trust: the plugin then reads whatever files the manifest names, and with an `openai:` "
    "model that audio is uploaded to the server. See [where audio may come from](#where-audio-may-come-from).",
    "data.fields.audio": "Field holding the audio path, relative to the manifest (default `audio`). It must "
    "resolve inside the manifest's folder or `$AUDIOLLM_DATA_HOME` unless `data.allow_outside` is true.",
    "data.fields.reference": "Field holding the reference: a string or a list of strings, e.g. several "
    "captions (default `reference`).",
    "data.fields.id": "Field holding the sample id (default `id`; else the file stem). Ids are sanitised to "
    "`[A-Za-z0-9_.-]`; a duplicate id is an error.",
    "data.fields.prompt": "Field holding a per-sample prompt (default `prompt`).",
    "audio.sample_rate": "The rate the benchmark is defined at: clips are first brought to it, then to the "
    "model's own `sample_rate` if that differs (default: straight to the model's rate).",
    "audio.max_seconds": "Longer clips are cut, and every cut is recorded (`truncated_s` in the sample's results "
    "and JUnit properties, a count in the summary line). Only the kept part is decoded: memory grows with "
    "`max_seconds`, not with the file's length.",
    "data-folders.generated": "The folder of generated audio, or a mapping `label: folder`, one run per label "
    "(checkpoint sweeps).",
    "data-folders.reference": "The folder of reference audio.",
    "data-folders.prompts": 'Optional JSONL of text prompts for `clap_score`: `{"id" or "audio": file name, '
    '"prompt": text}`.',
    "generation.preset": "How audio is prepared for the metrics: `clean` (default) or `audioldm_eval-0.0.3` "
    "(the choices of audioldm_eval 0.0.3; see [scoring protocols](../explanation/scoring.md#generation-presets)).",
    "generation.mode": "`auto` decides by the preset's rule whether files are paired; `paired` forces pairing of "
    "what shares a key; `unpaired` never pairs (paired metrics are then skipped).",
    "generation.sample_rate": "The CNN14 variant (16000 or 32000) and the rate of PSNR/SSIM/LSD.",
    "generation.kid_subsets": "KID: number of random subsets.",
    "generation.kid_subset_size": "KID: size of each subset (the whole set when larger than the set).",
    "generation.isc_splits": "Inception score: number of splits.",
    "generation.seed": "Seed of the KID subsets and the ISc shuffle.",
    "generation.clap_checkpoint": "CLAP checkpoint for `clap_score`: a local directory or hub repo (else "
    "`$AUDIOLLM_CLAP_CHECKPOINT`).",
    "generation.outliers": "How many most-distant generated files the `fd`/`fad` gates list.",
    "generation.bootstrap": "N > 0 gives the distribution metrics (`fad`, `fd`, `kid`, `kad`, `isc`) a 95% CI "
    "from N resamples of both the generated and the reference set, over the cached embeddings; it costs about "
    "N + 1 evaluations of the distance (see [generation](../how-to/generation.md#confidence-intervals)). 0: no CI "
    "for them, and a gate on their `ci_low`/`ci_high` is a spec error. Per-file metrics always have a CI.",
}


# ===================================================================================================================
# Rendering: plain data in, Markdown out. Nothing below imports pytest_audiollm.
# ===================================================================================================================


def _code(text: Any) -> str:
    return f"`{text}`"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, reST literals and roles as Markdown code."""
    return " ".join(_md(text).split()).replace("|", "\\|")


def _md(text: str) -> str:
    """A docstring as Markdown: reST ``literals`` and :role:`targets` become `code`; `::` blocks are kept as
    indented code."""
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    text = re.sub(r":(?:class|mod|func|meth|data|attr):`~?([^`]+)`", r"`\1`", text)
    return text.replace("~pytest_audiollm.", "pytest_audiollm.")


def _default(value: Any) -> str:
    if value is None or value is False or (isinstance(value, str | list | tuple | dict) and not value):
        return DASH
    return _code(value)


def render_options() -> str:
    opts, inis = options(), ini_keys()
    ini_names = {key.name for key in inis}
    lines = [
        "| option | argument | ini key | repeatable | default | help |",
        "|---|---|---|---|---|---|",
    ]
    for opt in opts:
        if opt.action == "store_true":
            argument = DASH
        elif opt.choices:
            argument = _code("{" + ",".join(opt.choices) + "}")
        else:
            argument = _code(opt.metavar or opt.dest.upper())
        ini = next((n for n in (opt.dest, opt.dest + "s") if n in ini_names), None)
        lines.append(
            f"| `{', '.join(opt.flags)}` | {_cell(argument)} | {_code(ini) if ini else DASH} | "
            f"{'yes' if opt.action == 'append' else ''} | {_cell(_default(opt.default))} | {_cell(opt.help)} |"
        )
    lines += [
        "",
        "### Ini keys",
        "",
        "Set in `pytest.ini`, `pyproject.toml` (`[tool.pytest.ini_options]`), `tox.ini` or `setup.cfg`; the "
        "command-line option wins when both are given.",
        "",
        "| ini key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key in inis:
        lines.append(f"| `{key.name}` | {key.type or 'string'} | {_cell(_default(key.default))} | {_cell(key.help)} |")
    return "\n".join(lines)


def render_hooks() -> str:
    found = hooks()
    classes = registry_classes()
    lines = [
        "| hook | historic | what to do in it |",
        "|---|---|---|",
    ]
    for hook in found:
        first = hook.doc.split("\n\n")[0]
        lines.append(f"| [`{hook.name}`](#{hook.name}) | {'yes' if hook.historic else 'no'} | {_cell(first)} |")
    for hook in found:
        lines += ["", f"### `{hook.name}`", "", "```python", hook.signature, "```", "", _md(hook.doc)]
        notes = []
        if hook.historic:
            notes.append(
                "Historic: a plugin or `conftest.py` registered later (found during collection) still receives "
                "the call."
            )
        if hook.firstresult:
            notes.append("First result: the first implementation that returns a value wins.")
        if notes:
            lines += ["", " ".join(notes)]
    lines += ["", "## The registries", ""]
    lines.append("What the hooks receive as `registry`; the annotation in each signature above names the class.")
    for name, cls in classes.items():
        lines += ["", f"### `{name}`", ""]
        doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")  # its own, not Generic's
        if doc:
            lines += [_md(doc), ""]
        methods = [
            (member, fn)
            for member, fn in inspect.getmembers(cls, inspect.isfunction)
            if not member.startswith("_") or member == "__init__"
        ]
        rows = []
        for member, fn in methods:
            if member == "__init__":
                continue
            doc = inspect.getdoc(fn) or ""
            rows.append(f"| `{member}{_signature(fn, drop_self=True)}` | {_cell(doc.split(chr(10) * 2)[0])} |")
        if rows:
            lines += ["| method | what it does |", "|---|---|", *rows]
    return "\n".join(lines)


_NO_REFERENCE = DASH + " (the rules are documented in the module)"


def _direction(higher_is_better: bool) -> str:
    return "higher is better (`^`)" if higher_is_better else "lower is better (`v`)"


def render_metrics() -> str:
    found = metrics()
    lines = [
        "| name | version | direction | kind | definition |",
        "|---|---|---|---|---|",
    ]
    for m in found:
        lines.append(
            f"| [`{m.name}`](#{m.name}) | `{m.version}` | {'^' if m.higher_is_better else 'v'} | {m.kind} | "
            f"{_cell(m.description)} |"
        )
    for m in found:
        lines += [
            "",
            f"### `{m.name}`",
            "",
            f"- **Definition:** {_cell(m.description)}",
            f"- **Reference implementation** (what the numbers equal): {_cell(m.reference) or _NO_REFERENCE}",
            f"- **Direction:** {_direction(m.higher_is_better)}; **version** `{m.version}` (written to the results)",
            f"- **Kind:** {m.kind}"
            + (f"; per-sample statistics `{', '.join(m.stat_names)}`" if m.kind == "summable" and m.stat_names else "")
            + f"; implemented in `{m.module}`",
        ]
        if m.class_doc:
            lines += ["", textwrap.indent(_md(m.class_doc), "> ", lambda line: True).replace("> \n", ">\n")]
    return "\n".join(lines)


# what a generation metric's ``backbone`` asks of the user (hand-written: where the checkpoints come from)
BACKBONE_NEEDS = {
    "cnn14": "the PANNs CNN14 checkpoint ([backbone checkpoints](../how-to/backbone-checkpoints.md))",
    "vggish": "the VGGish checkpoint ([backbone checkpoints](../how-to/backbone-checkpoints.md))",
    "clap": "a CLAP checkpoint (`generation.clap_checkpoint` or `$AUDIOLLM_CLAP_CHECKPOINT`) and each file's prompt "
    "([CLAP score](../how-to/clap-score.md))",
}


def render_generation_metrics() -> str:
    found = generation_metrics()
    lines = [
        "| name | version | direction | family | backbone | paired | 95% CI | definition |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in found:
        family = "per file" if m.per_file else "distribution"
        ci = "always" if m.per_file else "with `generation.bootstrap: N`"
        lines.append(
            f"| [`{m.name}`](#{m.name}) | `{m.version}` | {'^' if m.higher_is_better else 'v'} | {family} | "
            f"{m.backbone or DASH} | {'yes' if m.paired else 'no'} | {ci} | {_cell(m.description)} |"
        )
    for m in found:
        if m.per_file:
            family = (
                "per file (`FileMetric`): a value per generated file, computed when the file's item runs; the run's "
                "value is the mean over files, with the seeded bootstrap 95% CI over files"
            )
        else:
            family = (
                "distribution (`DistributionMetric`): the generated set against the reference set, computed by the "
                "gate from the files' embeddings; a 95% CI only with `generation.bootstrap: N`"
            )
        needs = BACKBONE_NEEDS.get(m.backbone or "", f"the `{m.backbone}` backbone") if m.backbone else "the audio only"
        lines += [
            "",
            f"### `{m.name}`",
            "",
            f"- **Definition:** {_cell(m.description)}",
            f"- **Reference implementation** (what the numbers equal): {_cell(m.reference) or _NO_REFERENCE}",
            f"- **Direction:** {_direction(m.higher_is_better)}; **version** `{m.version}` (written to the results)",
            f"- **Family:** {family}",
            f"- **Needs:** {needs}"
            + ("; a reference partner for each generated file (paired runs only)" if m.paired else "")
            + f"; implemented in `{m.module}`",
        ]
        if m.class_doc:
            lines += ["", textwrap.indent(_md(m.class_doc), "> ", lambda line: True).replace("> \n", ">\n")]
    return "\n".join(lines)


def render_task_kinds() -> str:
    lines = [
        "| task kind | `task:` values | its own top-level keys | subjects it evaluates | what it is |",
        "|---|---|---|---|---|",
    ]
    for kind in task_kinds():
        lines.append(
            f"| `{kind.name}` | {', '.join(_code(t) for t in kind.tasks)} | "
            f"{', '.join(_code(k) for k in kind.keys) or DASH} | "
            f"{', '.join(_code(s) for s in kind.subjects) or DASH} | {_cell(kind.description)} |"
        )
    return "\n".join(lines)


def render_task_kind_protocol() -> str:
    doc, attributes, methods = task_kind_protocol()
    lines = [_md(doc), "", "| class attribute | default |", "|---|---|"]
    lines += [f"| `{name}` | `{value}` |" for name, value in attributes]
    lines += ["", "| method | must implement | what it does |", "|---|---|---|"]
    for method in methods:
        first = method.doc.split("\n\n")[0]
        lines.append(f"| `{method.signature}` | {'yes' if method.required else ''} | {_cell(first)} |")
    return "\n".join(lines)


def check_yaml_meanings() -> None:
    """Raise when the code accepts a key the meanings table lacks, or the table describes a key that is gone."""
    full_keys = {_meaning_key(section, key) for section in yaml_keys() for key in section.keys}
    missing = sorted(full_keys - set(YAML_KEY_MEANINGS))
    stale = sorted(set(YAML_KEY_MEANINGS) - full_keys)
    if missing or stale:
        raise RuntimeError(
            "docs/gen_reference.py: YAML_KEY_MEANINGS is out of date with the code"
            + (f"; keys the code accepts but the docs do not describe: {', '.join(missing)}" if missing else "")
            + (f"; keys described but no longer accepted: {', '.join(stale)}" if stale else "")
        )


def _meaning_key(section: YamlSection, key: str) -> str:
    return f"{section.path}.{key}" if section.path else key


def render_yaml_keys() -> str:
    check_yaml_meanings()
    values = yaml_values()
    defaults = yaml_defaults()
    lines: list[str] = []
    for section in yaml_keys():
        lines += [
            f"### {section.title}",
            "",
            "| key | required | default | values | meaning |",
            "|---|---|---|---|---|",
        ]
        for key in section.keys:
            full = section.key_prefix + key
            allowed = values.get(full)
            default = defaults.get(full, None) if section.path in ("", "audio", "generation") else None
            meaning = _cell(YAML_KEY_MEANINGS[_meaning_key(section, key)])
            lines.append(
                f"| `{full}` | {'yes' if key in section.required else ''} | {_cell(_default(default))} | "
                f"{', '.join(_code(v) for v in allowed) if allowed else ''} | {meaning} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def _schema_type(node: Mapping[str, Any]) -> str:
    """A node's type in words: ``array of [`run`](#run)``, ``number or null``, ``"a" or "b"``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[`{name}`](#{name})"  # the heading of that definition, further down the page
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " or ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            return " or ".join(_schema_type(option) for option in node[combinator])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    for container, key in (("array", "items"), ("object", "additionalProperties")):
        if kind == container and isinstance(node.get(key), Mapping):
            inner = _schema_type(node[key])
            return f"{container} of {f'({inner})' if ' or ' in inner else inner}"
    return str(kind)


def _schema_meaning(node: Mapping[str, Any]) -> str:
    """A node's description, or its alternatives' descriptions when only they have one."""
    if node.get("description"):
        return str(node["description"])
    for combinator in ("anyOf", "oneOf"):
        options = [o for o in node.get(combinator, ()) if isinstance(o, Mapping) and o.get("description")]
        if options:
            return " ".join(f"{_schema_type(o)}: {o['description']}" for o in options)
    return ""


def _schema_rows(node: Mapping[str, Any], path: str, rows: list[str], depth: int = 0) -> None:
    """One row per property, depth first; objects and arrays of objects are walked into."""
    if depth > 12:
        return
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        if not isinstance(child, Mapping):
            continue
        full = f"{path}.{name}" if path else name
        rows.append(
            f"| `{full}` | {_cell(_schema_type(child))} | {'yes' if name in required else ''} | "
            f"{_cell(_schema_meaning(child))} |"
        )
        target = child.get("items") if child.get("type") == "array" else child
        if isinstance(target, Mapping) and "properties" in target:
            _schema_rows(target, f"{full}[]" if target is not child else full, rows, depth + 1)


def render_schema(schema: Mapping[str, Any]) -> str:
    """A JSON Schema (draft 2020-12) as tables: the document, then each of its ``$defs``, then the raw file."""
    lines = []
    if schema.get("description"):
        lines += [_cell(str(schema["description"])), ""]
    rows: list[str] = []
    _schema_rows(schema, "", rows)
    lines += ["| field | type | required | meaning |", "|---|---|---|---|", *rows]
    for name, definition in (schema.get("$defs") or {}).items():
        if not isinstance(definition, Mapping):
            continue
        lines += ["", f"### `{name}`", ""]
        if definition.get("description"):
            lines += [_cell(str(definition["description"])), ""]
        def_rows: list[str] = []
        _schema_rows(definition, "", def_rows)
        if def_rows:
            lines += ["| field | type | required | meaning |", "|---|---|---|---|", *def_rows]
        else:
            lines.append(f"Type: {_cell(_schema_type(definition))}")
    lines += [
        "",
        '??? note "The schema file"',
        "",
        textwrap.indent("```json\n" + json.dumps(schema, indent=2) + "\n```", "    "),
    ]
    return "\n".join(lines)


def render_results_schema() -> str:
    return render_schema(results_schema())


RENDERERS: dict[str, Callable[[], str]] = {
    "options": render_options,
    "hooks": render_hooks,
    "metrics": render_metrics,
    "generation-metrics": render_generation_metrics,
    "task-kinds": render_task_kinds,
    "task-kind-protocol": render_task_kind_protocol,
    "yaml-keys": render_yaml_keys,
    "results-schema": render_results_schema,
}

MARKER = re.compile(r"^<!--\s*generated:\s*([\w-]+)\s*-->[ \t]*$", re.MULTILINE)  # alone on its line


def expand(markdown: str, where: str = "a page") -> str:
    """Replace every ``<!-- generated: NAME -->`` marker; an unknown NAME is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in RENDERERS:
            raise RuntimeError(f"{where}: unknown generated section {name!r} (known: {', '.join(RENDERERS)})")
        return RENDERERS[name]()

    return MARKER.sub(replace, markdown)


# mkdocs hook ------------------------------------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    from mkdocs.exceptions import PluginError

    try:
        check_yaml_meanings()  # fail early, before any page is built
    except RuntimeError as exc:
        raise PluginError(str(exc)) from exc
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown, where=str(getattr(page.file, "src_path", "a page")))
    except RuntimeError as exc:
        raise PluginError(str(exc)) from exc


def main(argv: Sequence[str]) -> int:
    names = list(argv) or list(RENDERERS)
    for name in names:
        print(f"<!-- {name} -->\n{RENDERERS[name]()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
