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

from pytest_audiollm.report.players import AUDIO_BUDGET_BYTES, AudioEmbedder
from pytest_audiollm.report.players import cut as _cut
from pytest_audiollm.report.players import escape as _e

if TYPE_CHECKING:
    from pytest_audiollm.results.collector import ResultsCollector

WORST_PER_RUN = 5
CELL_CHARS = 160  # prediction / references shown in a results-table row
DETAIL_CHARS = 4000  # prediction / prompt shown in a sample's detail

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


# ------------------------------------------------------------------------------------------------- samples


def sample_detail(row: dict[str, Any], player: str = "") -> str:
    """One sample's prompt, prediction, references, scores and error (no newlines: it goes into the log area)."""
    items = [("id", row.get("id")), ("model", row.get("model")), ("benchmark", row.get("benchmark"))]
    if row.get("prompt"):
        items.append(("prompt", _cut(str(row["prompt"]), DETAIL_CHARS)))
    prediction = row.get("prediction")
    items.append(("prediction", "(none)" if prediction is None else _cut(str(prediction), DETAIL_CHARS)))
    items.append(("references", " | ".join(_cut(str(r), DETAIL_CHARS) for r in row.get("references") or [])))
    scores = row.get("scores") or {}
    if scores:
        items.append(("scores", ", ".join(f"{name} = {_num(value)}" for name, value in scores.items())))
    if row.get("error"):
        items.append((f"error ({row.get('error_kind')})", _cut(str(row["error"]), DETAIL_CHARS)))
    if row.get("audio_path"):
        items.append(("audio", row["audio_path"]))
    body = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in items)
    audio = f"<dd>{player}</dd>" if player else ""
    return f'<dl class="audiollm-sample">{body}{audio}</dl>'


def _worst(run: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The main metric of a run and its WORST_PER_RUN worst samples (errors first)."""
    samples = run.get("samples") or []
    metric = next((name for name in run["metrics"] if any(name in (s.get("scores") or {}) for s in samples)), "")
    higher = bool(run["metrics"].get(metric, {}).get("higher_is_better", True))

    def badness(sample: dict[str, Any]) -> tuple[int, float]:
        if sample.get("error_kind"):
            return (0, 0.0)
        value = (sample.get("scores") or {}).get(metric)
        if value is None:
            return (1, 0.0)
        return (2, float(value) if higher else -float(value))

    candidates = [s for s in samples if s.get("error_kind") or metric in (s.get("scores") or {})]
    return metric, sorted(candidates, key=badness)[:WORST_PER_RUN]


# ------------------------------------------------------------------------------------------------- summary


def _group(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault(run["benchmark"], []).append(run)
    return grouped


def _gate_cell(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return '<span title="no gate">-</span>'
    status = {True: "PASS", False: "FAIL", None: "SKIP"}[gate.get("passed")]
    bound = "" if gate.get("bound") == "value" else f"{gate.get('bound')} "
    condition = f"{bound}{gate.get('op')} {gate.get('threshold')}"
    return f'<span class="{status.lower()}" title="{_e(condition)}">{status}</span>'


def _baseline_cell(metric: dict[str, Any]) -> str:
    base = metric.get("baseline")
    if not isinstance(base, dict):
        return "-"
    delta = base.get("delta")
    text = "n/a" if delta is None else f"{float(delta):+.4f}"
    p_value = base.get("p_value")
    title = f"baseline {_num(base.get('baseline_value'))}" + ("" if p_value is None else f", p = {float(p_value):.3g}")
    regressed = bool(base.get("regressed"))
    mark = " regressed" if regressed else ""
    css = ' class="regressed"' if regressed else ""
    return f'<span{css} title="{_e(title)}">{_e(text)}{mark}</span>'


def _value(run: dict[str, Any], metric: str) -> Any:
    return (run["metrics"].get(metric) or {}).get("value")


def _attrs(**values: str) -> str:
    return "".join(f' data-audiollm-{key}="{_e(value)}"' for key, value in values.items())


def _benchmark_table(benchmark: str, runs: list[dict[str, Any]]) -> list[str]:
    from pytest_audiollm.settings import format_size

    metrics = list(dict.fromkeys(name for run in runs for name in run["metrics"]))
    with_baseline = any(isinstance(m.get("baseline"), dict) for run in runs for m in run["metrics"].values())
    head = ["<th>model</th>", "<th>samples</th>", "<th>errors</th>"]
    for name in metrics:
        arrow = "\u2191" if all(r["metrics"].get(name, {}).get("higher_is_better", True) for r in runs) else "\u2193"
        head += [f"<th>{_e(name)} {arrow}</th>", "<th>95% CI</th>", "<th>gate</th>"]
        if with_baseline:
            head.append("<th>\u0394 baseline</th>")
    head += ["<th>load s</th>", "<th>warm-up s</th>", "<th>samples/s</th>", "<th>peak memory</th>"]
    body = []
    for run in runs:
        gates = {g["metric"]: g for g in run["gates"]}
        counts, timing, memory = run["counts"], run["timing"], run["memory"]
        cells = [
            f"<td>{_e(run['model'])}</td>",
            f"<td{_attrs(field='samples')}>{counts['samples']}</td>",
            f"<td{_attrs(field='errors')}>{counts['errors']}</td>",
        ]
        for name in metrics:
            metric = run["metrics"].get(name)
            if metric is None:
                cells += ["<td>-</td>"] * (4 if with_baseline else 3)
                continue
            ci = metric.get("ci95") or [None, None]
            cells.append(f"<td{_attrs(metric=name, field='value')}>{_num(metric.get('value'))}</td>")
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
        body.append(f"<tr{_attrs(model=run['model'])}>{''.join(cells)}</tr>")
    table = (
        f'<table class="audiollm-summary"{_attrs(benchmark=benchmark)}>'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    out = [table]
    for run in runs:
        for name, metric in run["metrics"].items():
            if metric.get("note"):
                out.append(f'<p class="audiollm-note">{_e(run["model"])} / {_e(name)}: {_e(metric["note"])}</p>')
    if len(runs) > 1:
        best = []
        for name in metrics:
            scored = [(r["model"], r["metrics"][name]) for r in runs if _value(r, name) is not None]
            if not scored:
                continue
            higher = scored[0][1].get("higher_is_better", True)
            model, metric = (max if higher else min)(scored, key=lambda pair: float(pair[1]["value"]))
            word = "highest" if higher else "lowest"
            best.append(f"{name}: {model} ({_num(metric['value'])}, {word} is best)")
        if best:
            out.append(f'<p class="audiollm-best">Best model per metric \u2014 {_e("; ".join(best))}.</p>')
    return out


def _plots(benchmark: str, runs: list[dict[str, Any]]) -> list[str]:
    from pytest_audiollm.report import plots

    if not plots.available():
        return ['<p class="audiollm-note">No plots: matplotlib is not installed (pip install matplotlib).</p>']
    images: list[tuple[str, str | None]] = []
    metrics = list(dict.fromkeys(name for run in runs for name in run["metrics"]))
    if len(runs) > 1:
        series: dict[str, Sequence[tuple[float | None, float | None, float | None]]] = {}
        for name in metrics:
            points = []
            for r in runs:
                metric = r["metrics"].get(name) or {}
                low, high = (metric.get("ci95") or [None, None])[:2]
                points.append((metric.get("value"), low, high))
            series[name] = points
        images.append((f"{benchmark}: metrics by model", plots.trend(benchmark, [r["model"] for r in runs], series)))
    for name in metrics:
        by_model: dict[str, Sequence[float]] = {}
        for r in runs:
            scores = [(s.get("scores") or {}).get(name) for s in r.get("samples") or []]
            if any(v is not None for v in scores):
                by_model[str(r["model"])] = [float(v) for v in scores if v is not None]
        if by_model:
            title = f"{benchmark}: per-sample {name}"
            images.append((title, plots.histogram(title, by_model, name)))
    for run in runs:
        matrix = _confusion(run)
        if matrix is not None:
            title = f"{benchmark} on {run['model']}: confusion"
            images.append((title, plots.confusion_matrix(title, *matrix)))
    return [f'<img alt="{_e(title)}" title="{_e(title)}" src="{uri}">' for title, uri in images if uri]


def _confusion(run: dict[str, Any]) -> tuple[list[str], list[list[int]]] | None:
    scoring = run.get("scoring") or {}
    choices = [str(c) for c in scoring.get("choices") or []]
    if (run.get("task") or scoring.get("task")) != "classification" or not choices:
        return None
    from pytest_audiollm.metrics.classification import match_label

    synonyms = {str(k): tuple(str(x) for x in v) for k, v in (scoring.get("synonyms") or {}).items()}
    labels = [*choices, "(no match)"]
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    seen = 0
    for sample in run.get("samples") or []:
        if sample.get("error_kind") in ("data", "setup") or not sample.get("references"):
            continue
        reference = match_label(str(sample["references"][0]), choices, synonyms)
        if reference is None:
            continue
        predicted = match_label(str(sample.get("prediction") or ""), choices, synonyms) or "(no match)"
        counts[index[reference]][index[predicted]] += 1
        seen += 1
    return (labels, counts) if seen else None


def _flipped(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Samples that went from right to wrong against the baseline (or dropped most), at most 2 x WORST_PER_RUN."""
    ids: list[str] = []
    for metric in run["metrics"].values():
        comparison = metric.get("baseline") or {}
        ids += [str(i) for i in comparison.get("right_to_wrong") or []]
        ids += [str(d.get("id")) for d in comparison.get("largest_drops") or []]
    by_id = {str(s.get("id")): s for s in run.get("samples") or []}
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id][: 2 * WORST_PER_RUN]


def _worst_section(run: dict[str, Any], audio: AudioEmbedder, raw_rows: dict[str, dict[str, Any]]) -> str:
    metric, worst = _worst(run)
    section = _samples_section(f"{len(worst)} worst samples", metric, worst, run, audio, raw_rows)
    flipped = _flipped(run)
    if flipped:
        title = f"{len(flipped)} samples that got worse than the baseline"
        section += _samples_section(title, metric, flipped, run, audio, raw_rows)
    return section


def _samples_section(
    title: str,
    metric: str,
    worst: list[dict[str, Any]],
    run: dict[str, Any],
    audio: AudioEmbedder,
    raw_rows: dict[str, dict[str, Any]],
) -> str:
    if not worst:
        return ""
    rows = []
    for sample in worst:
        raw = raw_rows.get(str(sample.get("id")), {})  # the collector's row: where the audio is
        sample = {**sample, **{k: raw[k] for k in ("audio_path", "audio_member") if raw.get(k)}}
        value = (sample.get("scores") or {}).get(metric)
        prediction = sample.get("prediction")
        shown = "(none)" if prediction is None else _cut(str(prediction), CELL_CHARS)
        references = _cut(" | ".join(map(str, sample.get("references") or [])), CELL_CHARS)
        rows.append(
            "<tr>"
            f"<td>{_e(sample.get('id'))}</td>"
            f'<td style="text-align:left">{_e(shown)}</td>'
            f'<td style="text-align:left">{_e(references)}</td>'
            f"<td>{_e(sample.get('error_kind') or _num(value))}</td>"
            f"<td>{audio.player(sample)}</td>"
            "</tr>"
        )
    return (
        f"<details><summary>{_e(title)} of {_e(run['model'])} on {_e(run['benchmark'])}"
        f" (by {_e(metric or 'error')})</summary>"
        '<table class="audiollm-summary"><thead><tr><th>id</th><th>prediction</th><th>references</th>'
        f"<th>{_e(metric or 'score')}</th><th>audio</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


def render_summary(
    runs: list[dict[str, Any]],
    audio: AudioEmbedder | None = None,
    rows: dict[tuple[str, str, str], dict[str, dict[str, Any]]] | None = None,
) -> str:
    """The summary section for ``runs`` (the run dicts of the results file), as one HTML string.

    ``rows`` are the collector's rows by (source, model, benchmark) and sample id: the worst samples' players
    read the audio from their ``audio_path``.
    """
    audio = audio if audio is not None else AudioEmbedder()
    rows = rows or {}
    parts = [STYLE, '<div class="audiollm"><h2>Audio model scores</h2>']
    worst_parts = []
    for benchmark, bench_runs in _group(runs).items():
        first = bench_runs[0]
        parts.append(
            f"<h3>{_e(benchmark)} <small>(task {_e(first.get('task'))}, version "
            f"{_e(first.get('benchmark_version'))})</small></h3>"
        )
        parts += _benchmark_table(benchmark, bench_runs)
        parts += _plots(benchmark, bench_runs)
        worst_parts += [
            _worst_section(run, audio, rows.get((run["source"], run["model"], run["benchmark"]), {}))
            for run in bench_runs
        ]
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
        runs = collector.runs()
        if runs:
            prefix.append(render_summary(runs, self.audio, collector.rows))

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
