"""bitsandbytes 8-bit / 4-bit on CPU, peft LoRA adapters and trust_remote_code, through the hf: adapter.

Models are the tiny random Qwen2-Audio of tiny_models.py, built offline. The 4-bit tests use a copy with
wider layers: bitsandbytes 0.50's CPU 4-bit kernel for AVX512-BF16 processors packs weights in blocks of 32
output rows and 64 inputs and fails on the tiny model's 16- and 37-wide layers ("N must be divisible by
block_n"); real checkpoints' layers are always multiples of those.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("bitsandbytes")
pytest.importorskip("peft")

import bitsandbytes as bnb
import peft
import torch
import transformers

from pytest_audiollm.core.state import state_key
from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.adapters.hf import HFAudioLLM, hf_factory
from pytest_audiollm.models.lora import ADAPTER_NAME, LoraAdapter
from pytest_audiollm.models.protocol import ModelOptions, Request
from pytest_audiollm.models.session import LoadFailed, ModelSession
from pytest_audiollm.testing import make_request, sine

pytestmark = pytest.mark.slow
SR = 16000


def _options(path: Path, **extra: object) -> ModelOptions:
    return ModelOptions(name=f"hf:{path}", target=str(path), device="cpu", extra={"max_new_tokens": 4, **extra})


def _requests() -> list[Request]:
    return [make_request(sine(f, 1.0, SR), prompt="What is it?", rate=SR, sample_id=f"s{i}")
            for i, f in enumerate((440.0, 880.0))]  # fmt: skip


def _stored_bytes(model: Any) -> int:
    """Bytes the loaded model holds: parameters, buffers, 8-bit row scales and 4-bit absmax blocks."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        parts = [tensor, getattr(tensor, "SCB", None)]
        state = getattr(tensor, "quant_state", None)
        if state is not None:
            parts.append(state.absmax)
        for part in parts:
            if part is not None and id(part) not in seen:
                seen.add(id(part))
                total += part.numel() * part.element_size()
    return total


@pytest.fixture(scope="module")
def tiny_dir(tiny_qwen2_audio: Path) -> Path:
    return tiny_qwen2_audio


@pytest.fixture(scope="module")
def aligned_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with 64/128-wide layers (bitsandbytes' CPU 4-bit kernel needs them)."""
    dest = tmp_path_factory.mktemp("tiny-qwen2-audio-aligned")
    config = json.loads((tiny_dir / "config.json").read_text())
    audio = dict(config["audio_config"], d_model=64, encoder_ffn_dim=64)
    text = dict(config["text_config"], hidden_size=64, intermediate_size=128, head_dim=16)
    for path in tiny_dir.iterdir():
        if path.name not in ("config.json", "model.safetensors"):
            (dest / path.name).write_bytes(path.read_bytes())
    torch.manual_seed(0)
    model = transformers.Qwen2AudioForConditionalGeneration(
        transformers.Qwen2AudioConfig(
            audio_config=audio, text_config=text, audio_token_index=config["audio_token_index"]
        )
    )
    model.generation_config = transformers.GenerationConfig.from_pretrained(tiny_dir)
    model.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def adapter_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter (r=4 on q_proj/v_proj) for the tiny model, with random non-zero lora_B."""
    dest = tmp_path_factory.mktemp("tiny-lora")
    base = transformers.AutoModelForMultimodalLM.from_pretrained(tiny_dir)
    tuned = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    for name, parameter in tuned.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)
    tuned.save_pretrained(dest)
    return dest


# -- bitsandbytes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantize", "layer"), [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_quantized_load_on_cpu_generates(
    quantize: str, layer: str, tiny_dir: Path, aligned_dir: Path, request: pytest.FixtureRequest
) -> None:
    directory = tiny_dir if quantize == "8bit" else aligned_dir
    dense = hf_factory(_options(directory)).memory_estimate()
    model = hf_factory(_options(directory, quantize=quantize))
    estimate = model.memory_estimate()
    model.load("cpu")
    try:
        inner: Any = model.model
        quantized = [m for m in inner.modules() if isinstance(m, getattr(bnb.nn, layer))]
        assert len(quantized) >= 20  # every attention / MLP / projector Linear of both towers
        plain = [name for name, m in inner.named_modules() if type(m) is torch.nn.Linear]
        assert plain == ["lm_head"]  # the output embeddings stay unquantized, as bitsandbytes does
        assert estimate < dense
        assert estimate == pytest.approx(_stored_bytes(inner), rel=0.005)
        outputs = model.predict(_requests())  # generate() on the quantized model
        assert len(outputs) == 2 and all(isinstance(text, str) for text in outputs)
        assert model.fingerprint().endswith(f"+bnb-{quantize}")
        assert model.placement is not None and model.placement.summary().startswith("cpu, ")
    finally:
        model.unload()


# -- LoRA ------------------------------------------------------------------------------------------------------


def _digest(adapter: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update(name.encode() + b"\0" + (adapter / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_lora_adapter_changes_the_model_and_the_fingerprint(tiny_dir: Path, adapter_dir: Path) -> None:
    base = hf_factory(_options(tiny_dir))
    tuned = hf_factory(_options(tiny_dir, adapter=str(adapter_dir)))
    base.load("cpu")
    tuned.load("cpu")
    try:
        inputs = base._model_inputs(_requests()[:1])
        with torch.no_grad():
            before = base.model(**inputs).logits
            after = tuned.model(**inputs).logits
        assert float((before - after).abs().max()) > 1e-3
        assert ADAPTER_NAME != "eval" and tuned.model.active_adapters() == [ADAPTER_NAME]
        assert any("lora_B" in name for name, _ in tuned.model.named_parameters())
        assert len(tuned.predict(_requests())) == 2
    finally:
        base.unload()
        tuned.unload()
    assert tuned.adapter_digest == _digest(adapter_dir)
    assert tuned.fingerprint() == f"{base.fingerprint()}+lora:{_digest(adapter_dir)}"
    adapter_bytes = (adapter_dir / "adapter_model.safetensors").stat().st_size
    assert tuned.memory_estimate() == base.memory_estimate() + adapter_bytes  # the adapter counts in the estimate


def test_quantize_8bit_and_lora_through_a_pytest_session(
    pytester: pytest.Pytester, tiny_dir: Path, adapter_dir: Path
) -> None:
    """One real session (subprocess: it imports torch) with --audiollm-quantize 8bit and --audiollm-adapter."""
    result = pytester.runpytest_subprocess(
        "--audiollm-model",
        f"hf:{tiny_dir}",
        "--audiollm-quantize",
        "8bit",
        "--audiollm-adapter",
        str(adapter_dir),
        "--audiollm-benchmark",
        "demo-classification",
        "--audiollm-limit",
        "2",
        "--audiollm-model-arg",
        "max_new_tokens=2",
        "--audiollm-bootstrap",
        "0",
        "--audiollm-results",
        "r.json",
        timeout=300,
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2 and "error" not in outcomes and "skipped" not in outcomes, outcomes
    result.stdout.fnmatch_lines(["*| peak * (load *, warm-up *, predict *) | cpu, 8-bit (bitsandbytes LLM.int8)"])
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    memory = run["memory"]
    assert memory["placement"]["quantize"] == "8bit" and memory["placement"]["devices"] == ["cpu"]
    adapter_bytes = (adapter_dir / "adapter_model.safetensors").stat().st_size
    int8 = hf_factory(_options(tiny_dir, quantize="8bit")).memory_estimate()
    assert memory["estimate_bytes"] == int8 + adapter_bytes < memory["placement"]["dense_bytes"]
    assert memory["peak_bytes"] >= max(memory["peak_load_bytes"], memory["peak_warmup_bytes"]) > 0
    assert memory["adapter_digest"] == _digest(adapter_dir)
    base = hf_factory(_options(tiny_dir)).fingerprint()
    assert run["model_fingerprint"] == f"{base}+bnb-8bit+lora:{_digest(adapter_dir)}"


def test_bad_adapters_say_what_is_wrong(tiny_dir: Path, aligned_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AudioLLMError, match="no such directory"):
        LoraAdapter(tmp_path / "missing")
    with pytest.raises(AudioLLMError, match=r"adapter_config\.json is missing"):
        LoraAdapter(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(AudioLLMError, match=r"no adapter weights \(adapter_model.safetensors or adapter_model.bin\)"):
        LoraAdapter(tmp_path)
    session = ModelSession("m", hf_factory, _options(tiny_dir, adapter=str(tmp_path / "missing")))
    with pytest.raises(LoadFailed, match=r"could not be created: --audiollm-adapter .*missing: no such directory"):
        session.ensure_loaded()
    # an adapter made for another base model (other layer shapes)
    other = tmp_path / "other"
    base = transformers.AutoModelForMultimodalLM.from_pretrained(aligned_dir)
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(other)
    model = hf_factory(_options(tiny_dir, adapter=str(other)))
    with pytest.raises(AudioLLMError, match=r"peft could not attach the adapter.*use an adapter made for this model"):
        model.load("cpu")


# -- trust_remote_code -------------------------------------------------------------------------------------------


def test_trust_remote_code_is_off_without_the_flag(pytester: pytest.Pytester, tiny_dir: Path) -> None:
    for args, expected in (((), False), (("--audiollm-trust-remote-code",), True)):
        config = pytester.parseconfigure(*args)
        extra = config.stash[state_key].settings.model_extra()
        assert extra["trust_remote_code"] is expected
        model = HFAudioLLM(ModelOptions(name=f"hf:{tiny_dir}", target=str(tiny_dir), extra=extra))
        assert model._pretrained_kwargs()["trust_remote_code"] is expected  # what from_pretrained receives
    refused = pytester.runpytest("--audiollm-model-arg", "trust_remote_code=true")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*trust_remote_code=... is not accepted: pass --audiollm-trust-remote-code*"])


def test_checkpoint_code_runs_only_when_trusted(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import dynamic_module_utils

    monkeypatch.setattr(dynamic_module_utils, "HF_MODULES_CACHE", str(tmp_path / "modules"))  # not ~/.cache
    remote = tmp_path / "remote"
    remote.mkdir()
    for path in tiny_dir.iterdir():
        (remote / path.name).write_bytes(path.read_bytes())
    config = json.loads((remote / "config.json").read_text())
    config["model_type"] = "audiollm_remote_test"
    config["auto_map"] = {"AutoConfig": "configuration_remote.RemoteConfig"}
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "configuration_remote.py").write_text("raise RuntimeError('the checkpoint code ran')\n")
    untrusted = hf_factory(_options(remote))
    with pytest.raises(AudioLLMError, match=r"ships its own Python code.*pass --audiollm-trust-remote-code"):
        untrusted.load("cpu")
    trusted = hf_factory(_options(remote, trust_remote_code=True))
    with pytest.raises(RuntimeError, match="the checkpoint code ran"):
        trusted.load("cpu")
