"""Metrics inside real pytest runs: details next to scores, corpus metrics' per-sample scores, Java-less skips."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ANSWERS_CONFTEST = '''
import json, os
import pytest_audiollm

ANSWERS = json.load(open(os.path.join(os.path.dirname(__file__), "answers.json")))

class Scripted(pytest_audiollm.AudioModel):
    """Answers from a table keyed by sample id: a stand-in for an LLM whose outputs we want to score."""
    cpu_only = True
    def predict(self, requests):
        return [ANSWERS.get(r.sample.id, "") for r in requests]

@pytest_audiollm.hookimpl
def pytest_audiollm_register_models(registry):
    registry.add("scripted", Scripted)
'''


def _benchmark(root: Path, yaml_text: str, rows: list[dict[str, object]], answers: dict[str, str]) -> None:
    import numpy as np
    import soundfile as sf

    (root / "conftest.py").write_text(ANSWERS_CONFTEST)
    (root / "answers.json").write_text(json.dumps(answers))
    for row in rows:
        sf.write(root / f"{row['id']}.wav", np.zeros(1600, dtype=np.float32) + 0.01, 16000)
        row["audio"] = f"{row['id']}.wav"
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "bench_x.yaml").write_text(yaml_text)


MCQ_YAML = """\
name: quiz
task: qa
data: {format: jsonl, path: data.jsonl, fields: {audio: audio, reference: answer}}
prompt: "Which animal? {choices}"
choices: [dog, cat, cow]
metrics: [mcq_accuracy]
thresholds: {mcq_accuracy: ">= 0.5"}
"""


def test_multiple_choice_reports_its_extraction_failure_rate(pytester: pytest.Pytester) -> None:
    rows = [{"id": f"q{i}", "answer": answer} for i, answer in enumerate(["dog", "cat", "cow", "A"])]
    answers = {"q0": "A", "q1": "The answer is (B)", "q2": "cow", "q3": "A or B"}
    _benchmark(pytester.path, MCQ_YAML, rows, answers)
    result = pytester.runpytest("--audiollm-model", "scripted", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*mcq_accuracy ^*0.7500*>= 0.5  PASS*", "*extraction_failure_rate*0.2500*"])
    metric = json.loads((pytester.path / "r.json").read_text())["runs"][0]["metrics"]["mcq_accuracy"]
    assert metric["value"] == 0.75 and metric["details"] == {"extraction_failure_rate": 0.25}


CAPTION_YAML = """\
name: captions
task: captioning
data: {format: jsonl, path: data.jsonl, fields: {audio: audio, reference: refs}}
prompt: "Describe the sound."
metrics: [cider_d, bleu_4, rouge_l]
caption_tokenizer: basic
"""


def test_corpus_metric_per_sample_scores_reach_the_results(pytester: pytest.Pytester) -> None:
    rows = [
        {"id": "c0", "refs": ["a dog barks loudly", "a dog is barking"]},
        {"id": "c1", "refs": ["rain falls on a roof", "heavy rain"]},
        {"id": "c2", "refs": ["a car passes by", "traffic noise"]},
    ]
    answers = {"c0": "a dog barks", "c1": "rain on a roof", "c2": "birds sing"}
    _benchmark(pytester.path, CAPTION_YAML, rows, answers)
    result = pytester.runpytest("--audiollm-model", "scripted", "--audiollm-results", "r.json")
    result.assert_outcomes(passed=6)
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    scores = {s["id"]: s["scores"] for s in run["samples"]}
    assert scores["c2"]["cider_d"] == 0.0 and scores["c0"]["cider_d"] > 0
    assert set(scores["c0"]) == {"cider_d", "bleu_4", "rouge_l"}
    mean_cider = sum(s["cider_d"] for s in scores.values()) / 3
    assert run["metrics"]["cider_d"]["value"] == pytest.approx(mean_cider, rel=1e-12)


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime to show the difference")
def test_without_java_the_caption_gates_skip_with_the_install_command(pytester: pytest.Pytester) -> None:
    rows = [{"id": "c0", "refs": ["a dog barks"]}, {"id": "c1", "refs": ["rain falls"]}]
    _benchmark(
        pytester.path,
        CAPTION_YAML.replace("caption_tokenizer: basic", "caption_tokenizer: ptb").replace(
            "[cider_d, bleu_4, rouge_l]", "[cider_d, meteor]"
        ),
        rows,
        {"c0": "a dog", "c1": "rain"},
    )
    empty = pytester.path / "nojava"
    empty.mkdir()
    env_path = os.environ.get("PATH", "")
    pytester._monkeypatch.setenv("PATH", str(empty))  # only java disappears: python runs by its full path
    pytester._monkeypatch.delenv("JAVA_HOME", raising=False)
    try:
        result = pytester.runpytest_subprocess("--audiollm-model", "scripted", "-rs")
    finally:
        pytester._monkeypatch.setenv("PATH", env_path)
    assert result.ret == 0
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*needs a Java runtime (java was not found on PATH)*apt-get install*"])
