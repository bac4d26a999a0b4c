"""Placement (one device, device maps, quantization chosen by budget) and memory per phase and after unload.

The device-map tests need no GPU: accelerate computes maps for a model on the meta device under made-up GPU
limits. The memory tests load real tensors through ModelSession and read the process's RSS (CPU) or the CUDA
allocator (skipped without a GPU).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import TESTS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch
import transformers

from pytest_audiollm.errors import BudgetExceeded
from pytest_audiollm.models.adapters.hf import HFAudioLLM, hf_factory
from pytest_audiollm.models.layout import MetaLayout
from pytest_audiollm.models.memory import MemoryProbe, rss_bytes, trim_heap
from pytest_audiollm.models.placement import DeviceMap, Gpu, choose_placement
from pytest_audiollm.models.protocol import AudioModel, ModelOptions, Request
from pytest_audiollm.models.session import ModelSession
from pytest_audiollm.testing import make_request, silence

GiB = 2**30
MiB = 2**20
RSS_TOLERANCE = 8 * MiB  # measured: 0.0 MiB for the 200 MiB model, -0.2 to -2.4 MiB for the hf model


# -- the decision table on the CPU (sizes only) ---------------------------------------------------------------


@dataclass
class SizedLayout:
    """A Layout with known sizes per precision; these decisions never ask for a device map."""

    sizes: dict[str, int]

    def size(self, quantize: str) -> int:
        return self.sizes["none" if quantize == "auto" else quantize]

    def device_map(self, quantize: str, max_memory: Mapping[int | str, int]) -> DeviceMap:
        raise AssertionError("a single-device decision computed a device map")


SIZES = SizedLayout({"none": 16 * GiB, "8bit": 9 * GiB, "4bit": 6 * GiB})


@pytest.mark.parametrize(
    ("quantize", "budget", "expected"),
    [
        ("none", None, "none"),
        ("auto", None, "none"),
        ("auto", 20 * GiB, "none"),
        ("auto", 12 * GiB, "8bit"),  # bf16 over the budget, 8-bit fits
        ("auto", 7 * GiB, "4bit"),  # only 4-bit fits
        ("8bit", None, "8bit"),
        ("8bit", 9 * GiB, "8bit"),
        ("4bit", 20 * GiB, "4bit"),  # asked for: quantized even though bf16 would fit
    ],
)
def test_cpu_decision_table(quantize: str, budget: int | None, expected: str) -> None:
    placement = choose_placement(SIZES, device="cpu", budget=budget, quantize=quantize)
    assert placement.device == "cpu" and placement.device_map is None
    assert placement.quantize == expected
    assert placement.estimate_bytes == SIZES.size(expected)
    assert placement.dense_bytes == 16 * GiB
    assert placement.devices == ("cpu",)


def test_budget_too_small_even_quantized_names_the_numbers_and_the_option() -> None:
    with pytest.raises(BudgetExceeded) as info:
        choose_placement(SIZES, device="cpu", budget=4 * GiB, quantize="auto", name="hf:big")
    message = str(info.value)
    assert f"model 'hf:big' needs an estimated 16.0 GiB ({16 * GiB} bytes) on cpu" in message
    assert f"memory budget of 4.0 GiB ({4 * GiB} bytes): not loaded" in message
    assert f"9.0 GiB ({9 * GiB} bytes) in 8-bit and 6.0 GiB ({6 * GiB} bytes) in 4-bit" in message
    assert "does not fit even with --audiollm-quantize 4bit" in message


def test_unquantized_over_budget_suggests_the_quantization_that_fits() -> None:
    with pytest.raises(BudgetExceeded) as info:
        choose_placement(SIZES, device="cpu", budget=10 * GiB, quantize="none", name="m")
    message = str(info.value)
    assert f"({16 * GiB} bytes)" in message and f"({10 * GiB} bytes)" in message
    assert "Try --audiollm-quantize 8bit (or auto" in message
    with pytest.raises(BudgetExceeded, match=r"in 8-bit on cpu, more than .*Try --audiollm-quantize 4bit"):
        choose_placement(SIZES, device="cpu", budget=7 * GiB, quantize="8bit")
    with pytest.raises(BudgetExceeded, match=r"Try --audiollm-quantize 4bit \(or auto"):  # 8-bit does not fit 7 GiB
        choose_placement(SIZES, device="cpu", budget=7 * GiB, quantize="none")


def test_unknown_quantize_is_rejected() -> None:
    with pytest.raises(ValueError, match="quantize '3bit'"):
        choose_placement(SIZES, device="cpu", budget=None, quantize="3bit")


# -- device maps of a Qwen2-Audio-7B-shaped model on the meta device (no GPU) ---------------------------------


@pytest.fixture(scope="module")
def qwen7b() -> MetaLayout:
    """Qwen2-Audio-7B's shapes (8.40 B parameters) on the meta device, bf16."""
    config = transformers.Qwen2AudioConfig(
        audio_config={
            "d_model": 1280,
            "encoder_attention_heads": 20,
            "encoder_ffn_dim": 5120,
            "encoder_layers": 32,
            "num_mel_bins": 128,
            "max_source_positions": 1500,
        },
        text_config={
            "model_type": "qwen2",
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 156032,
            "max_position_embeddings": 8192,
        },
        audio_token_index=151646,
    )
    with torch.device("meta"):
        model = transformers.Qwen2AudioForConditionalGeneration(config)
    dense = sum(p.numel() for p in model.parameters()) * 2
    return MetaLayout(dense, dtype="bfloat16", build=lambda: model)


def test_7b_sizes_per_precision(qwen7b: MetaLayout) -> None:
    assert 8.39e9 < qwen7b.dense_bytes / 2 < 8.41e9
    assert qwen7b.size("none") / GiB == pytest.approx(15.64, abs=0.01)
    # embeddings, lm_head, norms and convolutions stay bf16: 8-bit is not half of bf16
    assert qwen7b.size("8bit") / GiB == pytest.approx(9.02, abs=0.02)
    assert qwen7b.size("4bit") / GiB == pytest.approx(6.12, abs=0.02)  # + a float32 absmax per 64 weights
    assert qwen7b.linear.names and "lm_head" not in qwen7b.linear.names


def test_device_map_splits_layers_over_two_8gib_gpus_and_cpu(qwen7b: MetaLayout) -> None:
    limits: dict[int | str, int] = {0: 8 * GiB, 1: 8 * GiB, "cpu": 64 * GiB}
    bf16 = qwen7b.device_map("none", limits)
    assert set(bf16.modules.values()) == {0, 1, "cpu"}
    decoder = {k: v for k, v in bf16.modules.items() if ".layers." in k and "language_model" in k}
    assert {0, 1} <= set(decoder.values())  # decoder layers on both GPUs, kept whole (_no_split_modules)
    assert bf16.bytes_per_device["cuda:0"] <= 8 * GiB and bf16.bytes_per_device["cuda:1"] <= 8 * GiB
    assert sum(bf16.bytes_per_device.values()) == pytest.approx(qwen7b.size("none"), rel=0.01)
    int8 = qwen7b.device_map("8bit", limits)
    assert set(int8.modules.values()) == {0, 1}  # 9.0 GiB in int8: both GPUs, nothing on the CPU
    assert qwen7b.device_map("8bit", {0: 12 * GiB, 1: 12 * GiB, "cpu": 64 * GiB}).modules == {"": 0}
    assert qwen7b.device_map("4bit", limits).modules == {"": 0}


def test_choose_placement_with_made_up_gpus(qwen7b: MetaLayout) -> None:
    two8 = [Gpu(0, 8 * GiB), Gpu(1, 8 * GiB)]
    offload = choose_placement(qwen7b, device="cuda", budget=None, gpus=two8, cpu_free=64 * GiB)
    assert offload.quantize == "none" and offload.device == "cuda:0"
    assert offload.devices == ("cuda:0", "cuda:1", "cpu") and "offloaded to CPU" in offload.reason
    assert offload.max_memory == {"cuda:0": int(8 * GiB * 0.9), "cuda:1": int(8 * GiB * 0.9), "cpu": 64 * GiB}
    assert offload.summary().startswith("device_map cuda:0 ")
    json.dumps(offload.to_json())

    split8 = choose_placement(qwen7b, device="cuda", budget=None, quantize="auto", gpus=two8)
    assert split8.quantize == "8bit" and split8.devices == ("cuda:0", "cuda:1")

    one12 = choose_placement(qwen7b, device="cuda:0", budget=None, quantize="auto", gpus=[Gpu(0, 12 * GiB)])
    assert (one12.device, one12.quantize, one12.device_map) == ("cuda:0", "8bit", None)

    second = choose_placement(qwen7b, device="cuda", budget=None, gpus=[Gpu(0, 4 * GiB), Gpu(1, 40 * GiB)])
    assert (second.device, second.quantize, second.device_map) == ("cuda:1", "none", None)

    two24 = choose_placement(qwen7b, device="cuda", budget=None, gpus=[Gpu(0, 12 * GiB), Gpu(1, 12 * GiB)])
    assert two24.quantize == "none" and two24.devices == ("cuda:0", "cuda:1")


def test_budget_decides_precision_on_a_big_gpu(qwen7b: MetaLayout) -> None:
    big = [Gpu(0, 80 * GiB)]
    assert choose_placement(qwen7b, device="cuda", budget=20 * GiB, quantize="auto", gpus=big).quantize == "none"
    assert choose_placement(qwen7b, device="cuda", budget=10 * GiB, quantize="auto", gpus=big).quantize == "8bit"
    assert choose_placement(qwen7b, device="cuda", budget=7 * GiB, quantize="auto", gpus=big).quantize == "4bit"
    with pytest.raises(BudgetExceeded, match=r"more than the memory budget of 4\.0 GiB .* not fit even"):
        choose_placement(qwen7b, device="cuda", budget=4 * GiB, quantize="auto", gpus=big)
    # the budget caps the sum over GPUs: 15.6 GiB do not go on two 80 GiB GPUs under a 12 GiB budget
    with pytest.raises(BudgetExceeded, match="Try --audiollm-quantize 8bit"):
        choose_placement(qwen7b, device="cuda", budget=12 * GiB, gpus=[Gpu(0, 80 * GiB), Gpu(1, 80 * GiB)])


# -- the hf: adapter plans with the tiny Qwen2-Audio ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tiny_qwen2_audio: Path) -> Path:
    return tiny_qwen2_audio


def _options(path: Path, **extra: object) -> ModelOptions:
    return ModelOptions(name=f"hf:{path}", target=str(path), device="cpu", extra={"max_new_tokens": 4, **extra})


def test_hf_plans_a_device_map_over_made_up_gpus(tiny_dir: Path) -> None:
    model = hf_factory(_options(tiny_dir))
    dense = model.dense_estimate()
    gpus = [Gpu(0, int(dense * 0.8)), Gpu(1, int(dense * 0.8))]
    placement = model.plan_placement("cuda", None, gpus=gpus)
    assert placement.devices == ("cuda:0", "cuda:1") and placement.quantize == "none"
    assert placement.estimate_bytes == dense == model.memory_estimate()
    loaded = transformers.AutoModelForMultimodalLM.from_pretrained(tiny_dir)
    names = {name for name, _ in loaded.named_modules()}
    assert placement.device_map is not None and set(placement.device_map) <= names


def test_hf_memory_estimate_reflects_the_quantized_placement(tiny_dir: Path) -> None:
    dense = hf_factory(_options(tiny_dir)).memory_estimate()
    int8 = hf_factory(_options(tiny_dir, quantize="8bit"))
    assert int8.memory_estimate() < dense
    assert int8.placement is not None and int8.placement.quantize == "8bit"
    assert int8.fingerprint().endswith("+bnb-8bit")
    auto = hf_factory(_options(tiny_dir, quantize="auto"))
    between = (int8.memory_estimate() + dense) // 2
    assert auto.plan_placement("cpu", between).quantize == "8bit"
    assert auto.memory_estimate() == int8.memory_estimate()


def test_session_budget_check_uses_the_quantized_estimate(tiny_dir: Path) -> None:
    dense = hf_factory(_options(tiny_dir)).memory_estimate()
    int8 = hf_factory(_options(tiny_dir, quantize="8bit")).memory_estimate()
    session = ModelSession("q", hf_factory, _options(tiny_dir, quantize="auto"), budget=int8 + 16)
    try:
        model = session.ensure_loaded()
        assert isinstance(model, HFAudioLLM) and model.placement is not None
        assert session.stats.estimate_bytes == int8 < dense
        assert session.stats.placement is not None and session.stats.placement["quantize"] == "8bit"
        assert session.stats.placement["summary"] == "cpu, 8-bit (bitsandbytes LLM.int8)"
        assert session.stats.fingerprint.endswith("+bnb-8bit")
    finally:
        session.unload()
    small = ModelSession("s", hf_factory, _options(tiny_dir, quantize="auto"), budget=1024)
    with pytest.raises(BudgetExceeded, match=r"\(1024 bytes\): not loaded.*not fit even with --audiollm-quantize 4bit"):
        small.ensure_loaded()
    assert small.model is None


# -- memory per phase and after unload ----------------------------------------------------------------------------


class TensorModel(AudioModel):
    """Holds 200 MiB of float32 on its device; every predict() makes a 40 MiB transient."""

    weights: Any = None

    def load(self, device: str) -> None:
        self.weights = torch.ones(50 * MiB, device=device)

    def predict(self, requests: Sequence[Request]) -> Sequence[str]:
        scratch = torch.ones(10 * MiB, device=self.weights.device)
        return [str(float(scratch[0] + self.weights[0])) for _ in requests]

    def unload(self) -> None:
        self.weights = None


def _request() -> Request:
    return make_request(silence(0.05), prompt="", sample_id="x")


def _cycle(device: str, current: Any) -> tuple[int, int, ModelSession]:
    """Load, warm up, predict once and unload a TensorModel; memory (``current()``) before and after.

    The C heap is trimmed before the first reading, as the unload trims it after: otherwise free pages other
    tests left resident would be counted before and not after.
    """
    gc.collect()
    trim_heap()
    before = current()
    session = ModelSession("tensors", TensorModel, ModelOptions(name="tensors", device=device))
    try:
        session.ensure_loaded()
        session.predict([_request()])
    finally:
        session.unload()
    gc.collect()
    return before, current(), session


def test_cpu_memory_returns_after_unload_and_phases_are_measured() -> None:
    """In a fresh interpreter: a long test process holds memory of earlier tests that moves RSS by tens of MiB."""
    code = (
        "import json, test_placement as t\n"
        "t._cycle('cpu', t.rss_bytes)  # the first cycle also initialises torch's allocator (measured: +3.7 MiB)\n"
        "before, after, session = t._cycle('cpu', t.rss_bytes)\n"
        "print(json.dumps([before, after, session.stats.to_json()]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(TESTS)]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    before, after, stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert abs(after - before) <= RSS_TOLERANCE, (before, after)
    assert 195 * MiB <= stats["peak_load_bytes"] <= 230 * MiB
    assert 235 * MiB <= stats["peak_warmup_bytes"] <= 270 * MiB  # 200 MiB resident + 40 MiB transient
    assert 235 * MiB <= stats["peak_predict_bytes"] <= 270 * MiB
    peaks = (stats["peak_load_bytes"], stats["peak_warmup_bytes"], stats["peak_predict_bytes"])
    assert stats["peak_bytes"] == max(peaks)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_memory_returns_after_unload_and_phases_are_measured() -> None:
    def allocated() -> int:
        return int(torch.cuda.memory_allocated())

    _cycle("cuda", allocated)
    before, after, session = _cycle("cuda", allocated)
    assert after == before  # the allocator counts live tensors exactly
    assert session.stats.peak_load_bytes == 200 * MiB
    assert session.stats.peak_warmup_bytes == session.stats.peak_predict_bytes == 240 * MiB
    probe = MemoryProbe(["cuda:0"])
    assert probe.on_cuda and not probe.counts_rss


def test_hf_model_memory_returns_after_unload(tiny_dir: Path, tmp_path: Path) -> None:
    """A 68 MB Qwen2-Audio (wider text model) loaded and unloaded twice through ModelSession."""
    config = json.loads((tiny_dir / "config.json").read_text())
    text = dict(config["text_config"], hidden_size=512, intermediate_size=2048, num_hidden_layers=4)
    text.update(num_attention_heads=8, num_key_value_heads=8, head_dim=64, layer_types=["full_attention"] * 4)
    wide = transformers.Qwen2AudioConfig(
        audio_config=config["audio_config"], text_config=text, audio_token_index=config["audio_token_index"]
    )
    for path in tiny_dir.iterdir():  # processor, tokenizer, chat template
        if path.name not in ("config.json", "model.safetensors"):
            (tmp_path / path.name).write_bytes(path.read_bytes())
    torch.manual_seed(0)
    transformers.Qwen2AudioForConditionalGeneration(wide).save_pretrained(tmp_path)
    measured = []
    for _ in range(2):
        gc.collect()
        trim_heap()  # as the unload does: free pages left by earlier tests are not the model's
        before = rss_bytes()
        session = ModelSession("wide", hf_factory, _options(tmp_path))
        session.ensure_loaded()
        session.unload()
        gc.collect()
        measured.append((rss_bytes() - before, session.stats))
    residual, stats = measured[-1]  # the first cycle imports and initialises (measured: about +40 MiB once)
    assert abs(residual) <= RSS_TOLERANCE, measured
    assert stats.peak_bytes >= 60 * MiB and stats.estimate_bytes is not None
    assert stats.placement is not None and stats.placement["devices"] == ["cpu"]


def test_model_args_scoped_by_model_name() -> None:
    """`NAME.KEY=VALUE` reaches model NAME only (as KEY, over a plain KEY); other models keep the plain value."""
    from pytest_audiollm.settings import Settings

    settings = Settings(
        models=("whisper", "qwen2.5-omni"),
        model_args={"path": "/models/common", "whisper.path": "/models/w", "qwen2.5-omni.revision": "abc"},
        quantize="8bit",
    )
    assert settings.model_extra("whisper") == {"path": "/models/w", "trust_remote_code": False, "quantize": "8bit"}
    omni = settings.model_extra("qwen2.5-omni")
    assert omni["path"] == "/models/common" and omni["revision"] == "abc" and "whisper.path" not in omni
