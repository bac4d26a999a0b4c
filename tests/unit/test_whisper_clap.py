"""The whisper and clap adapters on tiny random checkpoints built offline: real pytest sessions and unit checks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_audio_models import build_tiny_clap, build_tiny_whisper

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.adapters.clap import ClapZeroShot, clap_factory
from pytest_audiollm.models.adapters.whisper import WhisperASR, whisper_factory
from pytest_audiollm.models.protocol import ModelOptions, Request
from pytest_audiollm.models.windowing import split_request, window_spans
from pytest_audiollm.sample import Sample

pytestmark = pytest.mark.slow

TEMPLATE = "This is a sound of {}."


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def fused_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap-fused"), fusion=True)


@pytest.fixture(scope="module")
def whisper(whisper_dir: Path) -> Iterator[WhisperASR]:
    model = whisper_factory(ModelOptions(name="whisper", extra={"path": str(whisper_dir), "max_new_tokens": 6}))
    model.memory_estimate()
    model.load("cpu")
    yield model
    model.unload()


@pytest.fixture(scope="module")
def clap(clap_dir: Path) -> Iterator[ClapZeroShot]:
    model = clap_factory(ModelOptions(name="clap", extra={"path": str(clap_dir)}))
    model.memory_estimate()
    model.load("cpu")
    yield model
    model.unload()


def _request(audio: np.ndarray, rate: int, choices: tuple[str, ...] = (), sample_id: str = "s") -> Request:
    sample = Sample(id=sample_id, audio=None, references=())
    return Request(audio=audio, sample_rate=rate, prompt="ignored", sample=sample, choices=choices)


def _clips(rate: int, seconds: tuple[float, ...] = (1.0, 1.5, 0.6)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    clips = []
    for i, length in enumerate(seconds):
        t = np.arange(int(length * rate)) / rate
        tone = 0.4 * np.sin(2 * np.pi * (300 + 500 * i) * t) + 0.1 * rng.standard_normal(t.size)
        clips.append(tone.astype(np.float32))
    return clips


def _param_bytes(model: Any) -> int:
    return int(sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]))


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    result = pytester.runpytest_subprocess(*args, "--audiollm-results", "r.json", timeout=300)
    return result, json.loads((pytester.path / "r.json").read_text())["runs"]


# -- real pytest sessions ----------------------------------------------------------------------------------------


def test_whisper_transcribes_demo_asr_through_a_session(pytester: pytest.Pytester, whisper_dir: Path) -> None:
    result, runs = _run(
        pytester,
        "--audiollm-model", "whisper",
        "--audiollm-model-arg", f"path={whisper_dir}",
        "--audiollm-model-arg", "max_new_tokens=6",
        "--audiollm-model-arg", "max_audio_seconds=0.5",  # the ~0.8 s clips go as two windows each
        "--audiollm-benchmark", "demo-asr",
        "--audiollm-limit", "2",
        "--audiollm-batch-size", "2",
        "--audiollm-memory-budget", "1GiB",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2, result.stdout.str()  # the 2 samples ran; WER gates may fail (random model)
    (run,) = runs
    assert run["model"] == "whisper" and run["benchmark"] == "demo-asr"
    assert run["model_fingerprint"].startswith("whisper:") and run["model_fingerprint"].endswith(":auto:transcribe")
    import transformers

    params = _param_bytes(transformers.WhisperForConditionalGeneration.from_pretrained(whisper_dir))
    assert run["memory"]["estimate_bytes"] == params
    assert len(run["samples"]) == 2
    for sample in run["samples"]:
        assert isinstance(sample["prediction"], str) and sample["prediction"], sample
        assert sample["audio"]["windows"] == 2 and sample["audio"]["window_s"] == 0.5
    assert "wer" in run["metrics"]


def test_clap_classifies_demo_and_fails_samples_without_choices(pytester: pytest.Pytester, clap_dir: Path) -> None:
    result, runs = _run(
        pytester,
        "--audiollm-model", "clap",
        "--audiollm-model-arg", f"path={clap_dir}",
        "--audiollm-benchmark", "demo-classification",
        "--audiollm-benchmark", "demo-asr",
        "--audiollm-limit", "3",
        "--audiollm-batch-size", "2",
    )  # fmt: skip
    by_benchmark = {run["benchmark"]: run for run in runs}
    classification = by_benchmark["demo-classification"]
    assert classification["model_fingerprint"].startswith("clap:")
    assert classification["memory"]["estimate_bytes"] > 0
    assert [s["prediction"] in ("tone", "chirp", "noise", "pulses") for s in classification["samples"]] == [True] * 3
    assert "accuracy" in classification["metrics"]
    asr = by_benchmark["demo-asr"]
    assert [s["prediction"] for s in asr["samples"]] == [None] * 3
    assert all("zero-shot classifier" in s["error"] and "choices" in s["error"] for s in asr["samples"])
    assert asr["counts"]["errors"] == 3
    result.stdout.fnmatch_lines(["model error: predict() raised AudioLLMError: model 'clap' (CLAP) is a zero-shot*"])
    assert result.parseoutcomes()["failed"] >= 4  # 3 ASR samples and the WER gate


# -- whisper ------------------------------------------------------------------------------------------------------


def test_whisper_matches_transformers_generate(whisper: WhisperASR, whisper_dir: Path) -> None:
    import torch
    import transformers

    clips = _clips(16000)
    processor = transformers.WhisperProcessor.from_pretrained(whisper_dir)
    model = transformers.WhisperForConditionalGeneration.from_pretrained(whisper_dir)
    features = processor(audio=clips, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        ids = model.generate(input_features=features, task="transcribe", max_new_tokens=6, do_sample=False)
    expected = [text.strip() for text in processor.batch_decode(ids, skip_special_tokens=True)]
    assert list(whisper.predict([_request(c, 16000) for c in clips])) == expected
    assert all(expected)


def test_whisper_language_setting_reaches_generate(whisper_dir: Path) -> None:
    import torch
    import transformers

    model = whisper_factory(
        ModelOptions(name="whisper", extra={"path": str(whisper_dir), "language": "German", "max_new_tokens": 4})
    )
    model.load("cpu")
    assert model.language == "german"
    clips = _clips(16000)
    processor = transformers.WhisperProcessor.from_pretrained(whisper_dir)
    features = processor(audio=clips, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        ids = model.model.generate(input_features=features, language="de", task="transcribe", max_new_tokens=4)
    assert list(model.predict([_request(c, 16000) for c in clips])) == [
        t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)
    ]
    assert model.fingerprint().endswith(":german:transcribe")
    model.unload()
    assert model.model is None and model.processor is None


def test_whisper_long_clip_goes_as_windows_of_the_feature_extractor_length(whisper: WhisperASR) -> None:
    assert whisper.max_audio_seconds == 2.0  # the tiny extractor's chunk_length (30 s for real checkpoints)
    (clip,) = _clips(16000, (5.0,))
    request = _request(clip, 16000)
    windows = split_request(request, whisper.max_audio_seconds)
    assert [len(w.audio) for w in windows] == [32000, 32000, 16000]
    outputs = list(whisper.predict(windows))
    joined = whisper.join_windows(outputs, window_spans(request, whisper.max_audio_seconds), request)
    assert joined == " ".join(o.strip() for o in outputs if o.strip())
    # without windowing the extractor would keep only the first 2 s: the same answer as the first window
    assert whisper.predict([request])[0] == outputs[0]


def test_whisper_memory_estimate_and_fingerprint(whisper_dir: Path, whisper: WhisperASR) -> None:
    fresh = whisper_factory(ModelOptions(name="whisper", extra={"path": str(whisper_dir)}))
    assert fresh.model is None
    assert fresh.memory_estimate() == _param_bytes(whisper.model)
    assert fresh.fingerprint() == whisper.fingerprint()
    assert whisper.max_new_tokens == 6
    fresh.load("cpu")
    assert fresh.max_new_tokens == 32  # half the tiny decoder's 64 positions (224 for large-v3)
    fresh.unload()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"task": "summarise"}, "task 'summarise' is not one of transcribe, translate"),
        ({"language": "klingon"}, "language 'klingon' is not one this Whisper checkpoint knows"),
        ({"max_new_tokens": 61}, "max_new_tokens=61 does not fit"),
        ({"max_audio_seconds": 5}, "max_audio_seconds=5 is longer than the 2 s"),
    ],
)
def test_whisper_bad_settings_are_explained(whisper_dir: Path, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(AudioLLMError, match=message):
        model = whisper_factory(ModelOptions(name="whisper", extra={"path": str(whisper_dir), **extra}))
        model.load("cpu")


def test_english_only_checkpoint_gets_no_language_or_task(whisper_dir: Path, tmp_path: Path) -> None:
    import shutil

    english = shutil.copytree(whisper_dir, tmp_path / "tiny-whisper-en")
    config_path = english / "generation_config.json"
    config = json.loads(config_path.read_text())
    config["is_multilingual"] = False
    config_path.write_text(json.dumps(config))
    model = whisper_factory(ModelOptions(name="whisper", extra={"path": str(english), "max_new_tokens": 3}))
    model.load("cpu")
    assert "language" not in model._generate_kwargs() and "task" not in model._generate_kwargs()
    (clip,) = _clips(16000, (1.0,))
    assert isinstance(model.predict([_request(clip, 16000)])[0], str)
    model.unload()
    with pytest.raises(AudioLLMError, match="English-only"):
        whisper_factory(ModelOptions(name="whisper", extra={"path": str(english), "language": "fr"})).load("cpu")


# -- clap ---------------------------------------------------------------------------------------------------------


def test_clap_answers_the_argmax_of_transformers_logits_per_audio(clap: ClapZeroShot, clap_dir: Path) -> None:
    import torch
    import transformers

    choices = ("tone", "chirp", "noise", "pulses")
    clips = _clips(48000)
    processor = transformers.ClapProcessor.from_pretrained(clap_dir)
    model = transformers.ClapModel.from_pretrained(clap_dir)
    inputs = processor(
        text=[TEMPLATE.format(c) for c in choices], audio=clips, sampling_rate=48000, return_tensors="pt", padding=True
    )
    with torch.inference_mode():
        logits = model(**inputs).logits_per_audio
    expected = [choices[i] for i in logits.argmax(dim=-1).tolist()]
    assert list(clap.predict([_request(c, 48000, choices) for c in clips])) == expected
    # the cosines behind the answer are the model's own logits divided by its scale
    audio = clap.encoder.audio_embeddings(clips, 48000)
    ours = clap.encoder.logit_scale * audio @ clap.label_embeddings(choices).T
    assert torch.allclose(ours, logits, atol=1e-5)


def test_clap_resamples_to_48k(clap: ClapZeroShot) -> None:
    import soxr

    choices = ("a", "b", "c")
    clips = _clips(16000)
    upsampled = [soxr.resample(c, 16000, 48000) for c in clips]
    assert list(clap.predict([_request(c, 16000, choices) for c in clips])) == list(
        clap.predict([_request(c, 48000, choices) for c in upsampled])
    )


def test_clap_text_embeddings_are_cached_per_choices_tuple(clap: ClapZeroShot) -> None:
    clap.unload()  # clears the cache
    clap.load("cpu")
    clips = _clips(48000)
    first, second = ("dog", "cat"), ("dog", "cat", "bird")
    clap.predict([_request(c, 48000, first) for c in clips])
    assert (clap.text_cache_misses, clap.text_cache_hits) == (1, 2)
    clap.predict([_request(clips[0], 48000, second), _request(clips[1], 48000, first)])
    assert (clap.text_cache_misses, clap.text_cache_hits) == (2, 3)
    fresh = clap.encoder.text_embeddings([TEMPLATE.format(c) for c in second])
    assert clap.label_embeddings(second).equal(fresh)


def test_clap_fused_checkpoint_is_deterministic(fused_clap_dir: Path) -> None:
    import torch
    import transformers

    model = clap_factory(ModelOptions(name="clap", extra={"path": str(fused_clap_dir), "label_template": "a {}"}))
    model.load("cpu")
    clips = _clips(48000)
    embeddings = []
    for seed in (0, 1, 2):  # the feature extractor marks a random clip "longer"; the adapter does not let it
        np.random.seed(seed)
        embeddings.append(model.encoder.audio_embeddings(clips, 48000))
    assert all(e.equal(embeddings[0]) for e in embeddings)
    processor = transformers.ClapProcessor.from_pretrained(fused_clap_dir)
    clap = transformers.ClapModel.from_pretrained(fused_clap_dir)
    features = processor.feature_extractor(clips, sampling_rate=48000, return_tensors="pt")
    assert features["input_features"].shape[1] == 4  # fusion: global + 3 local mel channels
    with torch.inference_mode():
        direct = clap.get_audio_features(
            input_features=features["input_features"], is_longer=torch.zeros((3, 1), dtype=torch.bool)
        ).pooler_output
    assert torch.allclose(embeddings[0], torch.nn.functional.normalize(direct, dim=-1), atol=1e-6)
    model.unload()


def test_clap_long_clip_is_the_mean_of_its_windows(clap: ClapZeroShot) -> None:
    import torch

    (clip,) = _clips(48000, (5.0,))  # the tiny extractor keeps 2 s: windows of 2, 2 and 1 s
    windows = [clip[:96000], clip[96000:192000], clip[192000:]]
    parts = clap.encoder.audio_embeddings(windows, 48000)
    weights = torch.tensor([96000.0, 96000.0, 48000.0])[:, None]
    expected = torch.nn.functional.normalize((parts * weights).sum(0, keepdim=True), dim=-1)
    assert torch.allclose(clap.encoder.audio_embeddings([clip], 48000), expected, atol=1e-6)


def test_clap_settings_are_checked(clap_dir: Path) -> None:
    with pytest.raises(AudioLLMError, match="label_template 'sound' has no"):
        clap_factory(ModelOptions(name="clap", extra={"path": str(clap_dir), "label_template": "sound"}))
    model = clap_factory(ModelOptions(name="clap", extra={"path": str(clap_dir), "label_template": "{} noises"}))
    assert model.label_text("dog") == "dog noises"
    assert model.cpu_only is False
    assert model.fingerprint() != clap_factory(ModelOptions(name="clap", extra={"path": str(clap_dir)})).fingerprint()
    with pytest.raises(AudioLLMError, match=r"the CLAP checkpoint '.*missing' is not a directory"):
        clap_factory(ModelOptions(name="clap", extra={"path": str(clap_dir / "missing")})).load("cpu")
    with pytest.raises(AudioLLMError, match="could not load the CLAP checkpoint 'nobody/no-such-clap'"):
        clap_factory(ModelOptions(name="clap", extra={"path": "nobody/no-such-clap"})).load("cpu")  # offline
