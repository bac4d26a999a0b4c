"""pytest-html 4 integration: a score summary, plots, per-sample columns and audio for the worst samples.

:class:`AudioLLMHtml` is registered on the xdist controller (or the single process) only, and only when
``--html`` is given. All of its data comes from the controller's :class:`ResultsCollector`
(``config.pluginmanager.getplugin("audiollm-results")``) and from the ``audiollm_row`` / ``audiollm_gate``
attributes that every call report carries, so the report is the same with and without xdist.

What the report holds:

* at the top, one table per benchmark with a row per model: each metric's value, 95% CI, gate status
  (PASS / FAIL / SKIP, ``-`` without a gate) and, when the run has baseline information, the change against
  the baseline; samples, errors, load and warm-up time, samples/s and peak memory; a note line per metric
  without a value (skipped, not computable); the best model per metric (direction-aware) when a benchmark
  has several models;
* plots (PNG data URIs, rendered offline with matplotlib's Agg backend; see :mod:`.plots`): a histogram of the
  per-sample scores per benchmark x metric, a confusion matrix per classification run and, for a benchmark
  with several models (a checkpoint sweep), a metric trend over the models in run order;
* five columns in the results table (model, benchmark, prediction, references, main score);
* per-sample detail (prompt, full prediction, references, scores, error) with an ``<audio controls>``
  player only for FAILED samples, and the 5 worst samples of each run in the summary.

Scale: the report stays usable at 10,000 samples because every other sample gets a one-line row only (its
prediction and references cut to 160 characters), and plots are a fixed size whatever the sample count.

Audio: a player embeds the sample as a 16-bit mono WAV at 16 kHz, cut to 10 s (at most ~427 KiB of base64
each). All players of a report share a budget of :data:`AUDIO_BUDGET_BYTES` (20 MiB, about 48 ten-second
clips); once it is used up no more players are embedded and the report says so. The audio is read from the
row's ``audio_path`` (and ``audio_member`` for a tar shard); rows without it get no player.

Every model output, reference, prompt, id, metric and file name is HTML-escaped (``html.escape(quote=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_audiollm.records import GateSummary, MetricRecord
from pytest_audiollm.report.html_samples import CELL_CHARS, sample_detail, worst_section
from pytest_audiollm.report.players import AUDIO_BUDGET_BYTES, AudioEmbedder
from pytest_audiollm.report.players import cut as _cut
from pytest_audiollm.report.players import escape as _e

if TYPE_CHECKING:
    from pytest_audiollm.records import RunRecord
    from pytest_audiollm.results.collector import ResultsCollector
    from pytest_audiollm.tasks.registry import TaskKindRegistry


STYLE = (
    "<style>"
    ".audiollm{margin:8px 0 16px 0}"
    ".audiollm table.audiollm-summary{border-collapse:collapse;margin:6px 0;font-size:13px}"
    ".audiollm table.audiollm-summary td,.audiollm table.audiollm-summary th"
    "{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}"
    ".audiollm table.audiollm-summary td:first-child{text-align:left}"
    ".audiollm .pass{color:#0a7d2c;font-weight:bold}.audiollm .fail{color:#c0171a;font-weight:bold}"
    ".audiollm .skip{color:#a06a00}.audiollm .regressed{color:#c0171a}"
    ".audiollm-note{color:#555;font-size:12px;margin:2px 0}"
    ".audiollm img{max-width:560px;margin:4px 8px 4px 0;vertical-align:top}"
    ".audiollm-sample{white-space:normal;font-family:sans-serif;font-size:13px;margin:4px 0}"
    ".audiollm-sample dt{font-weight:bold}.audiollm-sample dd{margin:0 0 4px 12px;white-space:pre-wrap}"
    "</style>"
)


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


def _sort_key(value: float | None) -> str:
    """A fixed-width string that sorts like the number (pytest-html sorts columns as strings)."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{min(max(value + 1e6, 0.0), 9e6):015.6f}"


def _main_score(row: dict[str, Any]) -> tuple[str, float | None]:
    for name, value in (row.get("scores") or {}).items():
        return name, None if value is None else float(value)
    return "", None


# ------------------------------------------------------------------------------------------------- summary


def _group(runs: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    grouped: dict[str, list[RunRecord]] = {}
    for run in runs:
        grouped.setdefault(run.benchmark, []).append(run)
    return grouped


def _gate_cell(gate: GateSummary | None) -> str:
    if gate is None:
        return '<span title="no gate">-</span>'
    status = {True: "PASS", False: "FAIL", None: "SKIP"}[gate.passed]
    bound = "" if gate.bound == "value" else f"{gate.bound} "
    condition = f"{bound}{gate.op} {gate.threshold}"
    return f'<span class="{status.lower()}" title="{_e(condition)}">{status}</span>'


def _baseline_cell(metric: MetricRecord) -> str:
    base = metric.baseline
    if base is None:
        return "-"
    delta = base.delta
    text = "n/a" if delta is None else f"{float(delta):+.4f}"
    p_value = base.p_value
    title = f"baseline {_num(base.baseline_value)}" + ("" if p_value is None else f", p = {float(p_value):.3g}")
    regressed = bool(base.regressed)
    mark = " regressed" if regressed else ""
    css = ' class="regressed"' if regressed else ""
    return f'<span{css} title="{_e(title)}">{_e(text)}{mark}</span>'


def _value(run: RunRecord, metric: str) -> Any:
    return run.metrics[metric].value if metric in run.metrics else None


def _attrs(**values: str) -> str:
    return "".join(f' data-audiollm-{key}="{_e(value)}"' for key, value in values.items())


def _benchmark_table(benchmark: str, runs: list[RunRecord]) -> list[str]:
    from pytest_audiollm.units import format_size

    metrics = list(dict.fromkeys(name for run in runs for name in run.metrics))
    with_baseline = any(m.baseline is not None for run in runs for m in run.metrics.values())
    head = ["<th>model</th>", "<th>samples</th>", "<th>errors</th>"]
    for name in metrics:
        higher = all(r.metrics[name].higher_is_better for r in runs if name in r.metrics)
        arrow = "\u2191" if higher else "\u2193"
        head += [f"<th>{_e(name)} {arrow}</th>", "<th>95% CI</th>", "<th>gate</th>"]
        if with_baseline:
            head.append("<th>\u0394 baseline</th>")
    head += ["<th>load s</th>", "<th>warm-up s</th>", "<th>samples/s</th>", "<th>peak memory</th>"]
    body = []
    for run in runs:
        gates = {g.metric: g for g in run.gates}
        counts, timing, memory = run.counts, run.timing, run.memory
        cells = [
            f"<td>{_e(run.model)}</td>",
            f"<td{_attrs(field='samples')}>{counts['samples']}</td>",
            f"<td{_attrs(field='errors')}>{counts['errors']}</td>",
        ]
        for name in metrics:
            metric = run.metrics.get(name)
            if metric is None:
                cells += ["<td>-</td>"] * (4 if with_baseline else 3)
                continue
            ci = metric.ci95 or [None, None]
            cells.append(f"<td{_attrs(metric=name, field='value')}>{_num(metric.value)}</td>")
            cells.append(f"<td{_attrs(metric=name, field='ci95')}>[{_num(ci[0])}, {_num(ci[1])}]</td>")
            cells.append(f"<td{_attrs(metric=name, field='gate')}>{_gate_cell(gates.get(name))}</td>")
            if with_baseline:
                cells.append(f"<td{_attrs(metric=name, field='baseline')}>{_baseline_cell(metric)}</td>")
        rate = timing.get("samples_per_s")
        cells += [
            f"<td{_attrs(field='load_s')}>{float(timing.get('load_s') or 0.0):.2f}</td>",
            f"<td{_attrs(field='warmup_s')}>{float(timing.get('warmup_s') or 0.0):.2f}</td>",
            f"<td{_attrs(field='samples_per_s')}>{'n/a' if rate is None else f'{float(rate):.1f}'}</td>",
            f"<td{_attrs(field='peak_bytes')}>{_e(format_size(memory.get('peak_bytes')))}</td>",
        ]
        body.append(f"<tr{_attrs(model=run.model)}>{''.join(cells)}</tr>")
    table = (
        f'<table class="audiollm-summary"{_attrs(benchmark=benchmark)}>'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    out = [table]
    for run in runs:
        for name, metric in run.metrics.items():
            if metric.note:
                out.append(f'<p class="audiollm-note">{_e(run.model)} / {_e(name)}: {_e(metric.note)}</p>')
    if len(runs) > 1:
        best = []
        for name in metrics:
            scored = [(r.model, r.metrics[name]) for r in runs if _value(r, name) is not None]
            if not scored:
                continue
            higher = scored[0][1].higher_is_better
            model, metric = (max if higher else min)(scored, key=lambda pair: float(pair[1].value or 0.0))
            word = "highest" if higher else "lowest"
            best.append(f"{name}: {model} ({_num(metric.value)}, {word} is best)")
        if best:
            out.append(f'<p class="audiollm-best">Best model per metric \u2014 {_e("; ".join(best))}.</p>')
    return out


def _plots(benchmark: str, runs: list[RunRecord], kinds: TaskKindRegistry | None) -> list[str]:
    from pytest_audiollm.report import plots

    if not plots.available():
        return ['<p class="audiollm-note">No plots: matplotlib is not installed (pip install matplotlib).</p>']
    images: list[tuple[str, str | None]] = []
    metrics = list(dict.fromkeys(name for run in runs for name in run.metrics))
    if len(runs) > 1:
        series: dict[str, Sequence[tuple[float | None, float | None, float | None]]] = {}
        for name in metrics:
            points = []
            for r in runs:
                found = r.metrics.get(name)
                low, high = ((found.ci95 if found is not None else None) or [None, None])[:2]
                points.append((found.value if found is not None else None, low, high))
            series[name] = points
        images.append((f"{benchmark}: metrics by model", plots.trend(benchmark, [r.model for r in runs], series)))
    for name in metrics:
        by_model: dict[str, Sequence[float]] = {}
        for r in runs:
            scores = [s.scores.get(name) for s in r.samples]
            if any(v is not None for v in scores):
                by_model[r.model] = [float(v) for v in scores if v is not None]
        if by_model:
            title = f"{benchmark}: per-sample {name}"
            images.append((title, plots.histogram(title, by_model, name)))
    for run in runs:
        kind = kinds.get(run.kind) if kinds is not None and run.kind in kinds else None
        matrix = kind.confusion(run) if kind is not None else None
        if matrix is not None:
            title = f"{benchmark} on {run.model}: confusion"
            images.append((title, plots.confusion_matrix(title, *matrix)))
    return [f'<img alt="{_e(title)}" title="{_e(title)}" src="{uri}">' for title, uri in images if uri]


def render_summary(
    runs: list[RunRecord], audio: AudioEmbedder | None = None, kinds: TaskKindRegistry | None = None
) -> str:
    """The summary section for ``runs``, as one HTML string; ``kinds`` draw per-kind plots (confusion matrices).

    The worst samples' players read the audio from the samples' ``audio_path``.
    """  # fmt: skip
    audio = audio if audio is not None else AudioEmbedder()
    parts = [STYLE, '<div class="audiollm"><h2>Audio model scores</h2>']
    worst_parts = []
    for benchmark, bench_runs in _group(runs).items():
        first = bench_runs[0]
        parts.append(
            f"<h3>{_e(benchmark)} <small>(task {_e(first.task)}, version {_e(first.benchmark_version)})</small></h3>"
        )
        parts += _benchmark_table(benchmark, bench_runs)
        parts += _plots(benchmark, bench_runs, kinds)
        worst_parts += [worst_section(run, audio) for run in bench_runs]
    parts.append("<h3>Worst samples</h3>")
    parts += worst_parts
    parts.append(audio.note())
    parts.append(
        '<p class="audiollm-note">Sample rows show the prediction and references cut to '
        f"{CELL_CHARS} characters; failed samples have the full detail in their log area.</p></div>"
    )
    return "".join(parts)


# -------------------------------------------------------------------------------------------------- plugin


class AudioLLMHtml:
    """The pytest-html hooks. Register it on the controller only, when pytest-html writes a report."""

    def __init__(self, config: pytest.Config, audio_budget_bytes: int = AUDIO_BUDGET_BYTES) -> None:
        self.config = config
        self.audio = AudioEmbedder(audio_budget_bytes)

    def _collector(self) -> ResultsCollector | None:
        return self.config.pluginmanager.getplugin("audiollm-results")  # type: ignore[no-any-return]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        collector = self._collector()
        if collector is None:
            return
        from pytest_audiollm.core.state import state_key

        runs = collector.runs()
        if runs:
            prefix.append(render_summary(runs, self.audio, self.config.stash[state_key].kinds))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[2:2] = [
            '<th class="sortable" data-column-type="audiollmModel">Model</th>',
            '<th class="sortable" data-column-type="audiollmBenchmark">Benchmark</th>',
            "<th>Prediction</th>",
            "<th>References</th>",
            '<th class="sortable" data-column-type="audiollmScore">Score</th>',
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        if not cells:
            return  # another plugin dropped the row
        row = getattr(report, "audiollm_row", None)
        gate = getattr(report, "audiollm_gate", None)
        model = benchmark = prediction = references = score = ""
        value: float | None = None
        if isinstance(row, dict):
            model, benchmark = str(row.get("model", "")), str(row.get("benchmark", ""))
            pred = row.get("prediction")
            prediction = "(none)" if pred is None else _cut(str(pred), CELL_CHARS)
            references = _cut(" | ".join(map(str, row.get("references") or [])), CELL_CHARS)
            name, value = _main_score(row)
            score = f"{name} = {_num(value)}" if name else ""
        elif isinstance(gate, dict):
            model, benchmark = str(gate.get("model", "")), str(gate.get("benchmark", ""))
            value = gate.get("value")
            prediction = f"gate: {gate.get('metric', '')}"
            score = f"{gate.get('metric', '')} = {_num(value)}"
        cells[2:2] = [
            f'<td class="col-audiollmModel">{_e(model)}</td>',
            f'<td class="col-audiollmBenchmark">{_e(benchmark)}</td>',
            f'<td class="col-audiollmPrediction">{_e(prediction)}</td>',
            f'<td class="col-audiollmReferences">{_e(references)}</td>',
            f'<td class="col-audiollmScore"><span hidden>{_sort_key(value)}</span>{_e(score)}</td>',
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        row = getattr(report, "audiollm_row", None)
        if report.when != "call" or not report.failed or not isinstance(row, dict):
            return  # passed samples get their one-line row only (a 10,000-sample report stays small)
        data.insert(0, sample_detail(row, self.audio.player(row)))
