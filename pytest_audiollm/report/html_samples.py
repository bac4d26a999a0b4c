"""The sample parts of the HTML report: a failed sample's detail, the worst samples of a run, flipped samples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_audiollm.report.players import AudioEmbedder
from pytest_audiollm.report.players import cut as _cut
from pytest_audiollm.report.players import escape as _e

if TYPE_CHECKING:
    from pytest_audiollm.records import RunRecord

__all__ = ["CELL_CHARS", "DETAIL_CHARS", "WORST_PER_RUN", "num", "sample_detail", "worst_section"]

WORST_PER_RUN = 5
CELL_CHARS = 160  # prediction / references shown in a results-table row
DETAIL_CHARS = 4000  # prediction / prompt shown in a sample's detail


def num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


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
        items.append(("scores", ", ".join(f"{name} = {num(value)}" for name, value in scores.items())))
    if row.get("error"):
        items.append((f"error ({row.get('error_kind')})", _cut(str(row["error"]), DETAIL_CHARS)))
    if row.get("audio_path"):
        items.append(("audio", row["audio_path"]))
    body = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in items)
    audio = f"<dd>{player}</dd>" if player else ""
    return f'<dl class="audiollm-sample">{body}{audio}</dl>'


def _worst(run: RunRecord) -> tuple[str, list[dict[str, Any]]]:
    """The main metric of a run and its WORST_PER_RUN worst samples (errors first)."""
    samples = [s.to_json() for s in run.samples]
    metric = next((name for name in run.metrics if any(name in (s.get("scores") or {}) for s in samples)), "")
    higher = run.metrics[metric].higher_is_better if metric in run.metrics else True

    def badness(sample: dict[str, Any]) -> tuple[int, float]:
        if sample.get("error_kind"):
            return (0, 0.0)
        value = (sample.get("scores") or {}).get(metric)
        if value is None:
            return (1, 0.0)
        return (2, float(value) if higher else -float(value))

    candidates = [s for s in samples if s.get("error_kind") or metric in (s.get("scores") or {})]
    return metric, sorted(candidates, key=badness)[:WORST_PER_RUN]


def _flipped(run: RunRecord) -> list[dict[str, Any]]:
    """Samples that went from right to wrong against the baseline (or dropped most), at most 2 x WORST_PER_RUN."""
    ids: list[str] = []
    for metric in run.metrics.values():
        comparison = metric.baseline
        if comparison is not None:
            ids += [str(i) for i in comparison.right_to_wrong]
            ids += [str(d.get("id")) for d in comparison.largest_drops]
    by_id = {s.id: s.to_json() for s in run.samples}
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id][: 2 * WORST_PER_RUN]


def worst_section(run: RunRecord, audio: AudioEmbedder) -> str:
    """The run's worst samples (errors first), and those that got worse than the baseline, with players."""
    metric, worst = _worst(run)
    section = _samples_section(f"{len(worst)} worst samples", metric, worst, run, audio)
    flipped = _flipped(run)
    if flipped:
        title = f"{len(flipped)} samples that got worse than the baseline"
        section += _samples_section(title, metric, flipped, run, audio)
    return section


def _samples_section(
    title: str,
    metric: str,
    worst: list[dict[str, Any]],
    run: RunRecord,
    audio: AudioEmbedder,
) -> str:
    if not worst:
        return ""
    rows = []
    for sample in worst:
        value = (sample.get("scores") or {}).get(metric)
        prediction = sample.get("prediction")
        shown = "(none)" if prediction is None else _cut(str(prediction), CELL_CHARS)
        references = _cut(" | ".join(map(str, sample.get("references") or [])), CELL_CHARS)
        rows.append(
            "<tr>"
            f"<td>{_e(sample.get('id'))}</td>"
            f'<td style="text-align:left">{_e(shown)}</td>'
            f'<td style="text-align:left">{_e(references)}</td>'
            f"<td>{_e(sample.get('error_kind') or num(value))}</td>"
            f"<td>{audio.player(sample)}</td>"
            "</tr>"
        )
    return (
        f"<details><summary>{_e(title)} of {_e(run.model)} on {_e(run.benchmark)}"
        f" (by {_e(metric or 'error')})</summary>"
        '<table class="audiollm-summary"><thead><tr><th>id</th><th>prediction</th><th>references</th>'
        f"<th>{_e(metric or 'score')}</th><th>audio</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )
