"""Every fenced code block of README.md and docs/**/*.md is checked, so the docs cannot go stale unnoticed.

One test per block. What a block gets depends on its language and on the directives (HTML comments, invisible on
the rendered page) on the lines right above its fence:

- ``yaml``: parsed with ``yaml.safe_load``; a benchmark YAML (a mapping with ``task`` and ``metrics``) also goes
  through the real spec loader with the built-in task kinds (the data path need not exist), and, when its metrics
  are all built-in ones, through its task kind's metric check. ``json``, ``jsonl``, ``toml``, ``csv`` are parsed.
- ``python``: compiled; then run, in the page's scratch directory (after the page's earlier blocks), unless it has
  a ``title="FILE"``, which makes it a file of the page instead.
- ``bash`` / ``sh`` / ``shell`` / ``console``: each command must be ``pytest ...``, ``python -m pytest ...``,
  ``python -m pytest_audiollm ...`` or ``python SCRIPT.py``; it is run for real in the page's scratch directory
  and must exit 0, or the code of an ``<!-- exit: N -->`` directive. Identical first commands of pages without
  files (the demo) share one run.
- ``text``: nothing to run; with ``<!-- expected-output -->`` its lines must appear, in order, in the output of
  the page's previous command (numbers with a time or size unit are wildcards, and so is ``...``).
- ``<!-- not-run: REASON -->``: the block is only parsed/compiled, never run (pip, downloads, GPUs, weights).
- Any other block (no language, an unknown one, a shell command that is not runnable and not marked) fails,
  so a new page cannot slip through unchecked.

A page's scratch directory starts with every ``title="FILE"`` block of the page written to FILE (and a copy of
``examples/`` when a command names it); its blocks run in page order, as a reader would follow them.

The last tests check that the generated reference (``docs/gen_reference.py``) covers every ``--audiollm-*``
option, ini key, hook, text and generation metric and task kind of a real pytest session, that the results
example validates against the JSON Schema the package ships, that every page is in the mkdocs nav, and that the
site builds with ``mkdocs build --strict``.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<name>not-run|exit|expected-output)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")
TITLE = re.compile(r"""title=["']([^"']+)["']""")
SHELLS = {"bash", "sh", "shell", "console"}
PARSED = {"yaml", "yml", "json", "jsonl", "toml", "csv"}
# a number with a time or size unit: timings, throughputs and memory differ from run to run
VOLATILE = re.compile(r"\d+(?:\.\d+)?\s?(?:samples/s|µs|ms|s|B|KiB|MiB|GiB)(?![\w])")
COMMAND_TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    title: str | None
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}:{self.lang or 'no-language'}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page (indented fences in lists included), with their directives."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        else:
            raise AssertionError(f"{page.relative_to(ROOT)}:{start + 1}: code fence never closed")
        directives: dict[str, str] = {}
        above = start - 1
        while above >= 0 and (found := DIRECTIVE.match(lines[above])):
            directives[found["name"]] = found["value"] or ""
            above -= 1
        title = TITLE.search(info)
        lang = info.split()[0].lower() if info.split() else ""
        blocks.append(
            Block(page, start + 1, lang, title.group(1) if title else None, "\n".join(body) + "\n", directives)
        )
        i += 1
    return blocks


BLOCKS = [block for page in PAGES for block in parse_blocks(page)]


# --- classification ------------------------------------------------------------------------------------------------


def commands(block: Block) -> list[list[str]]:
    """The shell commands of a block: continuation lines joined, comments dropped, ``$`` prompts honoured."""
    text = block.code.replace("\\\n", " ")
    lines = text.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    out = []
    for line in lines:
        argv = shlex.split(line, comments=True)
        if argv:
            out.append(argv)
    return out


def runnable(argv: list[str]) -> bool:
    if argv[0] == "pytest":
        return True
    if argv[0] == "python" and len(argv) >= 3 and argv[1] == "-m" and argv[2] in ("pytest", "pytest_audiollm"):
        return True
    return argv[0] == "python" and len(argv) >= 2 and argv[1].endswith(".py") and not argv[1].startswith("-")


def classify(block: Block) -> str:
    """``parse``, ``file``, ``python``, ``command``, ``text``, ``marked`` (not-run) or ``unclassified``."""
    if "not-run" in block.directives:
        return "marked"
    if block.lang in PARSED:
        return "file" if block.title else "parse"
    if block.lang in ("python", "py"):
        return "file" if block.title else "python"
    if block.lang in SHELLS:
        argvs = commands(block)
        return "command" if argvs and all(runnable(a) for a in argvs) else "unclassified"
    if block.lang == "text":
        return "text"
    return "unclassified"


# --- static checks -------------------------------------------------------------------------------------------------


def check_static(block: Block, tmp: Path) -> None:
    """Parse or compile the block (also for not-run blocks: a typo in an example is still a bug)."""
    if block.lang in ("yaml", "yml"):
        docs = list(yaml.safe_load_all(block.code))
        for doc in docs:
            if isinstance(doc, dict) and "task" in doc and "metrics" in doc:
                check_benchmark_yaml(doc, block, tmp)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "jsonl":
        for line in block.code.splitlines():
            if line.strip():
                json.loads(line)
    elif block.lang == "toml":
        tomllib.loads(block.code)
    elif block.lang == "csv":
        rows = list(csv.reader(io.StringIO(block.code)))
        assert rows and all(len(row) == len(rows[0]) for row in rows), "ragged CSV"
    elif block.lang in ("python", "py"):
        compile(block.code, block.name, "exec")


def check_benchmark_yaml(raw: dict[str, Any], block: Block, tmp: Path) -> None:
    """The real loader with the built-in task kinds; the task kind also checks the metrics when they are all
    built-in ones (a page's own metrics are registered by its conftest.py and checked when its commands run).

    A benchmark of a task no built-in kind runs is loaded only when its page does not register a task kind: the
    page's conftest.py adds the kind, and the page's commands load the benchmark with it."""
    from pytest_audiollm.benchmarks.spec import parse_spec
    from pytest_audiollm.builtins import builtin_registries

    metrics, kinds = builtin_registries()
    if kinds.for_task(str(raw.get("task"))) is None and _registers_a_task_kind(block.page):
        return
    spec = parse_spec(raw, source=block.name, base_dir=tmp, kinds=kinds)
    if all(name in metrics for name in spec.metrics):
        kinds.get(spec.kind).check_metrics(spec, metrics)


def _registers_a_task_kind(page: Path) -> bool:
    return any(
        b.title is not None and b.title.endswith("conftest.py") and "def pytest_audiollm_register_task_kinds" in b.code
        for b in parse_blocks(page)
    )


# --- page scratch directories and runs -----------------------------------------------------------------------------


@dataclass
class Outcome:
    returncode: int
    output: str


@dataclass
class PageState:
    workspace: Path
    done: dict[int, Outcome] = field(default_factory=dict)  # block line -> outcome


_PAGES: dict[Path, PageState] = {}
_SHARED: dict[str, Outcome] = {}  # first commands of pages without files, by command line


def page_blocks(page: Path) -> list[Block]:
    return [b for b in BLOCKS if b.page == page]


def page_state(page: Path, factory: pytest.TempPathFactory) -> PageState:
    if page not in _PAGES:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(page.relative_to(ROOT)))[:40]
        workspace = factory.mktemp(slug)
        for block in page_blocks(page):
            if block.title and "not-run" not in block.directives:
                target = workspace / block.title
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
        if any("examples/" in b.code for b in page_blocks(page) if classify(b) == "command"):
            shutil.copytree(ROOT / "examples", workspace / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        _PAGES[page] = PageState(workspace)
    return _PAGES[page]


def environment(factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AUDIOLLM_"))}
    shared = factory.getbasetemp() / "docs-env"
    env.update(
        AUDIOLLM_CACHE_DIR=str(shared / "cache"),  # never a user's checkpoints: results do not depend on them
        AUDIOLLM_ARTIFACTS=str(shared / "artifacts"),
        COLUMNS="80",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_command(argv: list[str], cwd: Path, env: dict[str, str]) -> Outcome:
    if "tests" in argv[1:] or any(a.startswith("tests/") for a in argv[1:]):
        pytest.fail(f"{shlex.join(argv)} would run this test suite from inside itself: mark the block not-run")
    if "-n" in argv and importlib.util.find_spec("xdist") is None:
        pytest.skip("pytest-xdist is not installed")
    if "--html" in argv and importlib.util.find_spec("pytest_html") is None:
        pytest.skip("pytest-html is not installed")
    full = [sys.executable, "-m", "pytest", *argv[1:]] if argv[0] == "pytest" else [sys.executable, *argv[1:]]
    done = subprocess.run(
        full, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    return Outcome(done.returncode, done.stdout + done.stderr)


def run_python(block: Block, cwd: Path) -> Outcome:
    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, block.name, "exec"), {"__name__": "docs_block"})
    finally:
        os.chdir(previous)
    return Outcome(0, out.getvalue())


def expected_code(block: Block) -> int:
    return int(block.directives.get("exit") or 0)


def execute(block: Block, factory: pytest.TempPathFactory) -> Outcome:
    """Run ``block`` (and, first, every earlier runnable block of its page), checking each one's exit code."""
    state = page_state(block.page, factory)
    if block.line in state.done:
        return state.done[block.line]
    blocks = page_blocks(block.page)
    earlier = [b for b in blocks if b.line < block.line and classify(b) in ("command", "python")]
    for previous in earlier:
        if previous.line not in state.done:
            outcome = execute(previous, factory)
            if classify(previous) == "command" and outcome.returncode != expected_code(previous):
                pytest.fail(f"an earlier block of the page, {previous.name}, failed; fix it first")
    if classify(block) == "python":
        outcome = run_python(block, state.workspace)
    else:
        shared = not earlier and not any(b.title for b in blocks) and len(commands(block)) == 1
        key = shlex.join(commands(block)[0])
        if shared and key in _SHARED:
            outcome = _SHARED[key]
        else:
            env = environment(factory)
            outputs, code = [], 0
            for argv in commands(block):
                result = run_command(argv, state.workspace, env)
                outputs.append(result.output)
                code = result.returncode
                if code != expected_code(block):
                    break
            outcome = Outcome(code, "\n".join(outputs))
            if shared:
                _SHARED[key] = outcome
    state.done[block.line] = outcome
    return outcome


def previous_runnable(block: Block) -> Block:
    found = [b for b in page_blocks(block.page) if b.line < block.line and classify(b) in ("command", "python")]
    assert found, f"{block.name}: <!-- expected-output --> needs a command or python block before it on the page"
    return found[-1]


def _normal(line: str) -> str:
    line = re.sub(r"={3,}", "==", line)
    return " ".join(line.split())


def _pattern(line: str) -> str:
    line = _normal(line)
    line = VOLATILE.sub("\0", line)
    line = line.replace("...", "\0")
    line = "".join("[[]" if ch == "[" else "[]]" if ch == "]" else "[?]" if ch == "?" else ch for ch in line)
    line = line.replace("*", "[*]")
    return line.replace("\0", "*")


def check_expected_output(block: Block, output: str) -> None:
    produced = [_normal(line) for line in output.splitlines()]
    position = 0
    for line in block.code.splitlines():
        if not line.strip():
            continue
        pattern = _pattern(line)
        for index in range(position, len(produced)):
            if fnmatch.fnmatchcase(produced[index], pattern):
                position = index + 1
                break
        else:
            tail = "\n".join(output.splitlines()[-40:])
            pytest.fail(
                f"{block.name}: expected line not found (in order) in the output:\n  {line}\n--- output ---\n{tail}"
            )


# --- the tests -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_code_block(block: Block, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    kind = classify(block)
    if kind == "unclassified":
        pytest.fail(
            f"{block.name}: cannot check this block. Give it a language this test knows (yaml, json, jsonl, toml, csv, "
            "python, bash, text), make its commands runnable (pytest, python -m pytest_audiollm, python SCRIPT.py), or "
            "put <!-- not-run: why --> on the line above the fence."
        )
    check_static(block, tmp_path)
    if kind == "marked":
        assert block.directives["not-run"], f"{block.name}: a not-run directive needs a reason"
        return
    if kind in ("command", "python"):
        outcome = execute(block, tmp_path_factory)
        if kind == "command" and outcome.returncode != expected_code(block):
            tail = "\n".join(outcome.output.splitlines()[-40:])
            pytest.fail(
                f"{block.name}: {block.code.strip()!r} exited with {outcome.returncode}, the page implies "
                f"{expected_code(block)}\n--- output ---\n{tail}"
            )
    if kind == "text" and "expected-output" in block.directives:
        source = previous_runnable(block)
        if shutil.which("java") is None and "meteor" in block.code:
            pytest.skip("no Java runtime: METEOR is skipped, so the demo's table differs from the page")
        check_expected_output(block, execute(source, tmp_path_factory).output)


def test_every_block_is_accounted_for() -> None:
    """A summary (printed with -s) of what the docs checks do, and a guard against an empty collection."""
    kinds: dict[str, int] = {}
    for block in BLOCKS:
        kinds[classify(block)] = kinds.get(classify(block), 0) + 1
    print(f"\ndocs code blocks: {len(BLOCKS)} in {len(PAGES)} pages: {kinds}")
    assert kinds.get("command", 0) >= 10 and kinds.get("marked", 0) >= 1
    assert "unclassified" not in kinds


def _gen_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_reference"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_generated_reference_covers_every_option_ini_key_hook_metric_and_task_kind(pytester: pytest.Pytester) -> None:
    gen = _gen_reference()
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    options = set(re.findall(r"--audiollm-[a-z0-9-]+", help_text))
    ini_keys = set(re.findall(r"^\s+(audiollm_[a-z0-9_]+)\s", help_text, re.M))
    config = pytester.parseconfig()
    hooks = {name for name in dir(config.hook) if name.startswith("pytest_audiollm_")}
    listing = pytester.runpytest_subprocess("--audiollm-list").stdout.str()
    text_part, _, rest = listing.partition("metrics (generation):")
    generation_part, _, kinds_part = rest.partition("task kinds:")
    metric_line = re.compile(r"^  (\S+)\s+v\S+, (?:higher|lower) is better", re.M)
    text_metrics, generation_metrics = set(metric_line.findall(text_part)), set(metric_line.findall(generation_part))
    kinds = set(re.findall(r"^  (\S+)\s+tasks ", kinds_part, re.M))
    found = (options, ini_keys, hooks, text_metrics, generation_metrics, kinds)
    assert all(found), "nothing found: the plugin is not loaded in pytester, or --audiollm-list changed its sections"

    rendered = {name: render() for name, render in gen.RENDERERS.items()}  # each renderer works
    assert not sorted(o for o in options if f"`{o}`" not in rendered["options"] and f"{o}," not in rendered["options"])
    assert not sorted(k for k in ini_keys if f"`{k}`" not in rendered["options"])
    assert not sorted(h for h in hooks if f"### `{h}`" not in rendered["hooks"])
    assert "pytest_audiollm_register_task_kinds" in hooks
    assert not sorted(m for m in text_metrics if f"### `{m}`" not in rendered["metrics"])
    assert not sorted(m for m in generation_metrics if f"### `{m}`" not in rendered["generation-metrics"])
    assert not sorted(k for k in kinds if f"| `{k}` |" not in rendered["task-kinds"])
    registries = ("ModelRegistry", "GeneratorRegistry", "BenchmarkRegistry", "MetricRegistry", "TaskKindRegistry")
    assert not sorted(r for r in registries if f"### `{r}`" not in rendered["hooks"])
    assert "`generation.bootstrap`" in rendered["yaml-keys"]


def test_results_example_matches_the_shipped_schema() -> None:
    """The example on the results page is a valid results file, and the page renders the schema the package ships."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the dev extra: pip install -e '.[dev]'")
    from pytest_audiollm.records.schema import results_schema

    page = DOCS / "reference" / "results-json.md"
    example = next(b for b in parse_blocks(page) if b.lang == "json")
    jsonschema.validate(json.loads(example.code), results_schema(), cls=jsonschema.Draft202012Validator)
    rendered = _gen_reference().render_results_schema()
    for field_name in ("`complete`", "`kind`", "`scorers`", "`bootstrap`"):
        assert field_name in rendered, field_name


def test_results_schema_renderer_handles_a_draft_2020_12_schema() -> None:
    """The schema renderer handles what a draft 2020-12 schema holds (objects, arrays, refs, defs, anyOf)."""
    gen = _gen_reference()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "results",
        "type": "object",
        "required": ["schema", "runs"],
        "properties": {
            "schema": {"const": 1, "description": "format version"},
            "runs": {"type": "array", "items": {"$ref": "#/$defs/run"}},
        },
        "$defs": {
            "run": {
                "type": "object",
                "properties": {
                    "model": {"type": "string", "description": "the name given"},
                    "samples": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
                    "ci95": {"anyOf": [{"type": "array", "items": {"type": "number"}}, {"type": "null"}]},
                },
            }
        },
    }
    text = gen.render_schema(schema)
    for needed in ("| `schema` | `1` | yes | format version |", "array of [`run`](#run)", "### `run`",
                   "`samples[].id`", "array of number or null"):  # fmt: skip
        assert needed in text, (needed, text)


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def paths(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in paths(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in paths(value)]
        return []

    nav = set(paths(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), "pages missing from the nav in mkdocs.yml"
    assert nav - pages == set(), "nav entries without a page"


def test_readme_links_into_the_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((?!https?:|#)([^)#\s]+)", readme)
    assert links, "the README links into the docs"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with no warning (broken links and anchors, pages missing from the nav, generator errors)."""
    pytest.importorskip("mkdocs", reason="mkdocs-material is not installed: pip install mkdocs-material")
    pytest.importorskip("material", reason="mkdocs-material is not installed: pip install mkdocs-material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        check=False,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
