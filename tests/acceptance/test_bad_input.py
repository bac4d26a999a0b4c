"""Bad input gets a clear message: spec problems stop collection naming file and key; sample problems fail
only their own item."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import BENCH_YAML, SineDataset


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("task: classification\n", "", "*bench_tones.yaml: key 'task': is required (one of captioning, asr,*"),
        ("metrics:", "metrix:", "*bench_tones.yaml: key 'metrix': is not a known key (did you mean 'metrics'?)*"),
        (
            "task: classification",
            "task: clasification",
            "*key 'task': unknown task 'clasification': expected one of*(did you mean 'classification'?)*",
        ),
        ("[accuracy, macro_f1]", "[accuracy, acuracy]", "*key 'metrics': unknown metric 'acuracy'. Did you mean*"),
        (
            '{accuracy: ">= 0.75"}',
            '{wer: "<= 0.2"}',
            "*key 'thresholds.wer': sets a threshold on 'wer', which is not in this benchmark's metrics*",
        ),
        ('{accuracy: ">= 0.75"}', '{accuracy: "about 0.7"}', "*key 'thresholds.accuracy': cannot read threshold*"),
        ("format: jsonl", "format: parquet", "*key 'data.format': unknown format 'parquet': expected one of jsonl*"),
        ("path: data.jsonl", "path: missing.jsonl", "*key 'data.path'*does not exist*"),
        ("name: tones", "name: [tones", "*bench_tones.yaml: is not valid YAML*"),
    ],
)
def test_spec_errors_stop_collection_with_file_and_key(sines: SineDataset, old: str, new: str, message: str) -> None:
    sines.write(yaml_text=BENCH_YAML.replace(old, new))
    result = sines.pytester.runpytest("--audiollm-model", "pitch")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting bench_tones.yaml*", "pytest-audiollm: " + message])
    assert "Traceback" not in result.stdout.str()


def test_unknown_model_lists_registered_names(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "pich")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "*pytest-audiollm: unknown model 'pich'. Did you mean 'pitch'? Registered models: audio-flamingo-3, clap,"
            " deaf, demo, granite-speech, huge, hungry, miscount, naturelm, phi-4-multimodal, pitch, qwen2-audio,"
            " qwen2.5-omni, salmonn, voxtral, whisper, windowed; prefixes: hf:NAME, openai:NAME*"
        ]
    )


def test_unknown_named_benchmark_is_a_usage_error(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "pitch", "--audiollm-benchmark", "demoo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*unknown benchmark 'demoo'. Did you mean 'demo'?*"])


def test_sample_problems_fail_only_their_items(sines: SineDataset) -> None:
    root = sines.root
    sines.write()
    lines = (root / "data.jsonl").read_text().splitlines()
    (root / "audio" / "truncated.wav").write_bytes((root / "audio" / "low_001.wav").read_bytes()[:200])
    (root / "audio" / "garbage.wav").write_bytes(b"this is not audio at all" * 10)
    sf.write(root / "audio" / "nan.wav", np.full(800, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    sf.write(root / "audio" / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    lines += [
        "{not json",
        json.dumps({"id": "missing", "audio": "audio/nope.wav", "label": "low"}),
        json.dumps({"id": "truncated", "audio": "audio/truncated.wav", "label": "low"}),
        json.dumps({"id": "garbage", "audio": "audio/garbage.wav", "label": "low"}),
        json.dumps({"id": "nan", "audio": "audio/nan.wav", "label": "low"}),
        json.dumps({"id": "empty", "audio": "audio/empty.wav", "label": "low"}),
        json.dumps({"id": "raise_me", "audio": "audio/high_001.wav", "label": "high"}),
    ]
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    result = sines.pytester.runpytest(
        "--audiollm-model", "pitch", "--audiollm-batch-size", "4", "-rf", "--audiollm-results", "r.json"
    )
    result.assert_outcomes(passed=8, failed=7)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED bench_tones.yaml::tones[[]pitch::line7[]] - Failed: sample error: *",
            "sample error: *data.jsonl line 7 is not valid JSON*",
            "sample error: audio file not found: *nope.wav*",
            "sample error: *truncated.wav*truncated*",
            "sample error: *garbage.wav: cannot decode audio*",
            "sample error: *nan.wav*NaN*",
            "sample error: *empty.wav*empty*",
            "model error: predict() raised RuntimeError: boom on raise_me",
        ]
    )
    run = json.loads((root / "r.json").read_text())["runs"][0]
    # data errors are left out of the metrics; a model error counts as a wrong (empty) answer
    assert run["metrics"]["accuracy"]["n"] == 7
    assert run["counts"] == {"samples": 13, "errors": 7, "truncated": 0, "not_run": 0}


def test_wrong_number_of_outputs_fails_each_item_with_the_reason(sines: SineDataset) -> None:
    result = sines.pytester.runpytest("--audiollm-model", "miscount", "--audiollm-batch-size", "3", "-rf")
    result.assert_outcomes(failed=7, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*model output error: predict() returned 2 outputs for 1 requests (it must return "
            "exactly one string per request, in order)*"
        ]
    )
