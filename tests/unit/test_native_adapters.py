"""The named transformers-native adapters (qwen2-audio ... granite-speech) against tiny checkpoints built offline."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pytest_audiollm.errors import AudioLLMError, MissingDependency, ModelOutputError
from pytest_audiollm.models.adapters import family_adapters, native
from pytest_audiollm.models.adapters.families import SPECS, conversation, fallback_prompt
from pytest_audiollm.models.protocol import ModelOptions, Request
from pytest_audiollm.testing import make_request, sine

pytestmark = pytest.mark.slow

SR = 16000
FACTORIES = {
    "qwen2-audio": family_adapters.qwen2_audio_factory,
    "audio-flamingo-3": family_adapters.audio_flamingo_3_factory,
    "qwen2.5-omni": family_adapters.qwen2_5_omni_factory,
    "voxtral": family_adapters.voxtral_factory,
    "phi-4-multimodal": family_adapters.phi4_multimodal_factory,
    "granite-speech": family_adapters.granite_speech_factory,
}


def _request(seconds: float = 1.0, prompt: str = "Which sound is this?") -> Request:
    return make_request(sine(440.0, seconds, SR), prompt=prompt, rate=SR, sample_id="s")


def _adapter(name: str, path: Path, **extra: Any) -> Any:
    return FACTORIES[name](ModelOptions(name=name, extra={"path": str(path), "max_new_tokens": 3, **extra}))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint per family (Qwen2.5-Omni in the official full-model layout), plus the bare thinker."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from tiny_native_models import BUILDERS, build_tiny_qwen2_5_omni

    root = tmp_path_factory.mktemp("native")
    dirs = {name: build(root / name) for name, build in BUILDERS.items() if name != "qwen2.5-omni"}
    dirs["qwen2.5-omni"] = build_tiny_qwen2_5_omni(root / "qwen2.5-omni", full_layout=True)
    dirs["omni-thinker"] = build_tiny_qwen2_5_omni(root / "omni-thinker")
    return dirs


@pytest.fixture(scope="module")
def loaded(tiny: dict[str, Path]) -> Iterator[dict[str, Any]]:
    """Adapters loaded on CPU, shared by the tests that look inside them."""
    models: dict[str, Any] = {}
    for name in ("voxtral", "phi-4-multimodal", "granite-speech", "qwen2.5-omni"):
        models[name] = _adapter(name, tiny[name])
        models[name].load("cpu")
    yield models
    for model in models.values():
        model.unload()


# -- prompts (no torch) -----------------------------------------------------------------------------------------


EXPECTED_PROMPTS = {
    "qwen2-audio": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nAudio 1: "
    "<|audio_bos|><|AUDIO|><|audio_eos|>\nQ?<|im_end|>\n<|im_start|>assistant\n",
    "audio-flamingo-3": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<sound>Q?"
    "<|im_end|>\n<|im_start|>assistant\n",
    "qwen2.5-omni": "<|im_start|>system\nYou are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, "
    "capable of perceiving auditory and visual inputs, as well as generating text and speech.<|im_end|>\n"
    "<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|>Q?<|im_end|>\n<|im_start|>assistant\n",
    "voxtral": "<s>[INST][BEGIN_AUDIO][AUDIO]Q?[/INST]",
    "phi-4-multimodal": "<|user|><|audio|>Q?<|end|><|assistant|>",
    "granite-speech": "<|start_of_role|>system<|end_of_role|>Knowledge Cutoff Date: April 2024.\nYou are Granite, "
    "developed by IBM. You are a helpful AI assistant.<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>"
    "<|audio|>Q?<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_documented_prompt_format(name: str) -> None:
    spec = SPECS[name]
    assert fallback_prompt(spec, "Q?", spec.system_prompt) == EXPECTED_PROMPTS[name]
    assert fallback_prompt(spec, "Q?", spec.system_prompt).count(spec.audio_token) == 1
    user_only = spec.user_turn.format(audio=spec.audio_token, prompt="Q?")
    assert fallback_prompt(spec, "Q?", "") == user_only  # an empty system prompt drops the system turn
    assert EXPECTED_PROMPTS[name].endswith(user_only)


def test_conversation_parts_or_text() -> None:
    parts = conversation(SPECS["qwen2-audio"], "Q?", "S")
    assert parts == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Q?"}]},
    ]
    assert conversation(SPECS["granite-speech"], "Q?", "") == [{"role": "user", "content": "<|audio|>Q?"}]


def test_options_default_checkpoint_scoped_keys_and_bad_path(tmp_path: Path) -> None:
    spec = SPECS["voxtral"]
    assert native.resolve_options(spec, ModelOptions(name="voxtral")).target == "mistralai/Voxtral-Mini-3B-2507"
    extra = {"path": "/nowhere/global", "voxtral.path": str(tmp_path), "qwen2-audio.path": "x", "dtype": "float32",
             "voxtral.dtype": "bfloat16", "revision": "abc"}  # fmt: skip
    options = native.resolve_options(spec, ModelOptions(name="voxtral", extra=extra))
    assert options.target == str(tmp_path)
    assert options.extra["dtype"] == "bfloat16" and options.extra["revision"] == "abc"
    assert "qwen2-audio.path" in options.extra  # another model's setting is left alone
    with pytest.raises(AudioLLMError, match=r"'/nowhere/global' is not a directory.*granite-speech\.path="):
        family_adapters.granite_speech_factory(ModelOptions(name="granite-speech", extra=extra))
    options = ModelOptions(name="qwen2-audio", extra={"path": "org/other", "revision": "r1"})
    hub = family_adapters.qwen2_audio_factory(options)
    assert hub.checkpoint_label() == "org/other@r1"
    assert hub.max_audio_seconds is None  # set at load from the processor's window


# -- the plugin, as users run it ---------------------------------------------------------------------------------


def test_all_six_families_run_through_a_pytest_session(pytester: pytest.Pytester, tiny: dict[str, Path]) -> None:
    args = ["--audiollm-benchmark", "demo-classification", "--audiollm-limit", "2", "--audiollm-batch-size", "2",
            "--audiollm-model-arg", "max_new_tokens=3", "--audiollm-results", "r.json"]  # fmt: skip
    for name in SPECS:
        args += ["--audiollm-model", name, "--audiollm-model-arg", f"{name}.path={tiny[name]}"]
    result = pytester.runpytest_subprocess(*args, timeout=600)
    # random tiny models answer gibberish: every sample item runs and passes, every accuracy gate fails
    result.assert_outcomes(passed=3 * len(SPECS), failed=len(SPECS))
    runs = {run["model"]: run for run in json.loads((pytester.path / "r.json").read_text())["runs"]}
    assert set(runs) == set(SPECS)
    for name, run in runs.items():
        assert run["model_fingerprint"].startswith(f"{name}:local:{tiny[name].name}:"), run["model_fingerprint"]
        assert len(run["samples"]) == 2
        assert all(isinstance(s["prediction"], str) for s in run["samples"])
        assert 0 < run["memory"]["estimate_bytes"] < 2**22


def test_missing_peft_skips_with_the_pip_command(pytester: pytest.Pytester, tiny: dict[str, Path]) -> None:
    pytester.makeconftest("import sys\nsys.modules['peft'] = None  # as if peft were not installed\n")
    args = ["--audiollm-benchmark", "demo-classification", "--audiollm-limit", "1", "-rs"]
    for name in ("phi-4-multimodal", "granite-speech"):
        args += ["--audiollm-model", name, "--audiollm-model-arg", f"{name}.path={tiny[name]}"]
    result = pytester.runpytest_subprocess(*args, timeout=300)
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 2 and "passed" not in outcomes
    for name in ("phi-4-multimodal", "granite-speech"):
        result.stdout.fnmatch_lines(
            [
                f"*the {name} model adapter needs the 'peft' package, which is not installed: "
                "pip install 'pytest-audiollm[[]lora[]]'*"
            ]  # the extra whose transformers cap matches peft
        )


def test_default_checkpoints_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--audiollm-list")
    for name, spec in SPECS.items():
        result.stdout.fnmatch_lines([f"*{name} *{spec.checkpoint}*"])


# -- inside the adapters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_chat_templates_render_the_documented_format(name: str, tiny: dict[str, Path]) -> None:
    import transformers

    model = _adapter(name, tiny[name])
    model._processor = model._load_processor(transformers, {})  # the processor only, no weights
    assert model._prompt_text("Q?") == EXPECTED_PROMPTS[name]
    model.system_prompt = "Be brief."
    if SPECS[name].system_turn:
        assert "Be brief." in model._prompt_text("Q?")


def test_windows_come_from_the_processor_or_the_spec(tiny: dict[str, Path], loaded: dict[str, Any]) -> None:
    assert loaded["qwen2.5-omni"].max_audio_seconds == 2.0  # the tiny Whisper extractor's chunk_length
    assert loaded["voxtral"].max_audio_seconds == 1800.0
    assert loaded["granite-speech"].max_audio_seconds == 600.0
    flamingo = _adapter("audio-flamingo-3", tiny["audio-flamingo-3"])
    flamingo.load("cpu")
    try:
        assert flamingo.max_audio_seconds == 10.0  # the tiny processor's max_audio_len
        assert len(flamingo.predict([_request(12.0)])) == 1  # the model itself sees at most 10 s
    finally:
        flamingo.unload()


def test_omni_full_checkpoint_loads_the_thinker_only(tiny: dict[str, Path], loaded: dict[str, Any]) -> None:
    full = loaded["qwen2.5-omni"]
    assert type(full.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    thinker_bytes = sum(p.numel() * p.element_size() for p in full.model.parameters())
    assert thinker_bytes <= full.dense_estimate() <= 2 * thinker_bytes  # the thinker's size, counted on meta
    thinker = _adapter("qwen2.5-omni", tiny["omni-thinker"])
    thinker.load("cpu")
    try:  # same seed, same weights: the full layout's thinker.* tensors land where the bare thinker's are
        requests = [_request(1.0), _request(1.5, "Describe it.")]
        assert list(full.predict(requests)) == list(thinker.predict(requests))
        assert full.fingerprint() != thinker.fingerprint()
    finally:
        thinker.unload()


def test_voxtral_inputs_follow_the_tekken_instruct_layout(loaded: dict[str, Any]) -> None:
    model = loaded["voxtral"]
    tokenizer = model.processor.tokenizer
    inputs = model._model_inputs([_request(1.5, "Q?")])
    ids = inputs["input_ids"][0].tolist()
    bos, inst, begin, audio, end = tokenizer.convert_tokens_to_ids(
        ["<s>", "[INST]", "[BEGIN_AUDIO]", "[AUDIO]", "[/INST]"]
    )
    # 1.5 s = 24 000 samples -> 3 chunks of 10 240 samples (2 x 32 positions x hop 160) -> 3 x 8 audio tokens
    assert ids[:3] == [bos, inst, begin] and ids[-1] == end
    assert ids.count(audio) == 24 and ids[3:27] == [audio] * 24
    assert tokenizer.decode(ids[27:-1]) == "Q?"
    assert tuple(inputs["input_features"].shape) == (3, 128, 64)


def test_wrong_tokenizer_is_reported(tiny: dict[str, Path]) -> None:
    import transformers

    model = _adapter("voxtral", tiny["voxtral"])
    model.load("cpu")
    try:
        model._processor.tokenizer = transformers.AutoTokenizer.from_pretrained(tiny["qwen2-audio"])
        with pytest.raises(ModelOutputError, match="has no '<s>' token"):
            model.predict([_request()])
    finally:
        model.unload()


def test_phi4_speech_lora_is_active_and_changes_the_outputs(loaded: dict[str, Any]) -> None:
    import torch

    model = loaded["phi-4-multimodal"]
    inner = model.model
    assert inner.active_adapters() == ["speech"]
    lora_bytes = sum(p.numel() * p.element_size() for n, p in inner.named_parameters() if "lora_" in n)
    assert model.dense_estimate() == model.checkpoint.estimate_bytes("auto") + lora_bytes  # the LoRA is counted
    inputs = model._model_inputs([_request()])
    with torch.inference_mode():
        with_lora = inner(**inputs).logits
        inner.disable_adapters()
        try:
            without = inner(**inputs).logits
        finally:
            inner.enable_adapters()
    assert not torch.allclose(with_lora, without)


def test_phi4_without_its_speech_lora_folder_is_an_error(tiny: dict[str, Path], tmp_path: Path) -> None:
    copy = shutil.copytree(tiny["phi-4-multimodal"], tmp_path / "phi4", ignore=shutil.ignore_patterns("speech-lora"))
    model = _adapter("phi-4-multimodal", copy)
    with pytest.raises(AudioLLMError, match="speech-lora"):
        model.load("cpu")


def test_peft_check_names_the_install_command(tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "peft", None)
    with pytest.raises(MissingDependency, match=r"phi-4-multimodal model adapter needs the 'peft'.*\[lora\]"):
        _adapter("phi-4-multimodal", tiny["phi-4-multimodal"]).load("cpu")


def test_granite_loads_its_lora_and_counts_audio_tokens(loaded: dict[str, Any]) -> None:
    model = loaded["granite-speech"]
    assert model.model._hf_peft_config_loaded
    inputs = model._model_inputs([_request(1.0), _request(2.5)])
    audio_id = model.processor.tokenizer.convert_tokens_to_ids("<|audio|>")
    counts = (inputs["input_ids"] == audio_id).sum(-1).tolist()
    # 1 s: 101 mel frames -> 50 encoder frames -> 4 blocks of 15 -> 12 tokens; 2.5 s: 251 -> 125 -> 9 -> 27
    assert counts == [12, 27]
    assert inputs["input_features_mask"].sum(-1).tolist() == counts
    assert tuple(inputs["input_features"].shape) == (2, 125, 160)


# -- Granite features vs a numpy reference ------------------------------------------------------------------------


def _numpy_granite(wave: np.ndarray, n_fft: int = 512, win: int = 400, hop: int = 160, n_mels: int = 80) -> np.ndarray:
    """The GraniteSpeechFeatureExtractor formula in float64 numpy, with transformers' own HTK filterbank."""
    from transformers.audio_utils import mel_filter_bank

    x = np.pad(wave.astype(np.float64), n_fft // 2, mode="reflect")
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    frames = 1 + (len(x) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[index] * window, axis=-1)) ** 2
    filters = mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, SR / 2, SR, norm=None, mel_scale="htk")
    logmel = np.log10(np.maximum(power @ filters, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0) / 4 + 1
    if len(logmel) % 2:
        logmel = logmel[:-1]
    return logmel.reshape(-1, 2 * n_mels)


def test_granite_features_match_a_numpy_reference() -> None:
    pytest.importorskip("torch")
    from transformers.audio_utils import mel_filter_bank

    from pytest_audiollm.models.adapters.granite_features import GraniteFeatures, mel_filterbank

    reference_filters = mel_filter_bank(257, 80, 0.0, 8000.0, SR, norm=None, mel_scale="htk")
    np.testing.assert_allclose(mel_filterbank(257, 80, SR).numpy(), reference_filters, atol=1e-5)  # float32

    rng = np.random.default_rng(0)
    short = (0.3 * rng.standard_normal(int(0.7 * SR)) + sine(300.0, 0.7, SR)).astype(np.float32)
    long = (0.1 * rng.standard_normal(int(1.3 * SR))).astype(np.float32)
    features, counts = GraniteFeatures()([short, long])
    batch = features["input_features"].numpy()
    assert batch.shape == (2, (len(long) // 160 + 1) // 2, 160)
    # the extractor pads the batch to its longest clip before computing features, as transformers does
    padded_short = np.concatenate([short, np.zeros(len(long) - len(short), np.float32)])
    np.testing.assert_allclose(batch[0], _numpy_granite(padded_short), atol=1e-4)
    np.testing.assert_allclose(batch[1], _numpy_granite(long), atol=1e-4)
    assert counts == [GraniteFeatures().token_count(len(short)), GraniteFeatures().token_count(len(long))] == [9, 15]
    assert features["input_features_mask"].sum(-1).tolist() == counts


def test_granite_settings_from_old_and_new_config_files(tmp_path: Path) -> None:
    from pytest_audiollm.models.adapters.granite_features import GraniteFeatures

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"melspec_kwargs": {"sample_rate": 8000, "n_mels": 40, "hop_length": 80}}))
    features = GraniteFeatures.from_config_file(old)
    assert (features.sampling_rate, features.n_mels, features.hop_length, features.n_fft) == (8000, 40, 80, 512)
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"audio_processor": {"n_mels": 64, "projector_window_size": 10}}))
    features = GraniteFeatures.from_config_file(new)
    assert (features.n_mels, features.window_size, features.sampling_rate) == (64, 10, 16000)
    assert GraniteFeatures.from_config_file(None).n_mels == 80
