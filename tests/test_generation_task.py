"""The generation task end to end: folders or a generator, presets, pairing, cache, bad files, gates.

The embedding networks get checkpoints in the official layout with random weights (built by our modules and saved
the way PANNs and torchvggish ship theirs), so every path a real checkpoint takes is exercised without a download.
Sessions import torch, so they run in subprocesses.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch")

RATE = 16000


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Random CNN14 (16 kHz) and VGGish checkpoints in the official file layouts, as environment variables."""
    import torch

    from pytest_audiollm.features.backbones import build_cnn14, build_vggish

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    cnn14 = build_cnn14(RATE)
    # BatchNorm statistics measured on tones, as a trained network has them (with random statistics every input
    # gives nearly the same embedding and the distances would all be ~0)
    for module in cnn14.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    calibration = np.stack([_tone(f, seed=i) for i, f in enumerate(np.geomspace(100, 4000, 16))])
    cnn14.train()
    with torch.no_grad():
        cnn14(torch.from_numpy(calibration))
    cnn14.eval()
    torch.save({"model": cnn14.state_dict(), "iteration": 0}, root / "Cnn14_16k_mAP=0.438.pth")
    torch.save(build_vggish().state_dict(), root / "vggish-10086976.pth")
    return {
        "AUDIOLLM_CNN14_16K_CHECKPOINT": str(root / "Cnn14_16k_mAP=0.438.pth"),
        "AUDIOLLM_VGGISH_CHECKPOINT": str(root / "vggish-10086976.pth"),
    }


def _tone(freq: float, seconds: float = 1.2, seed: int = 0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _folders(root: Path, n: int = 8) -> tuple[Path, Path]:
    gen, ref = root / "generated", root / "reference"
    gen.mkdir()
    ref.mkdir()
    for i in range(n):
        sf.write(ref / f"clip{i:02d}.wav", _tone(220 * (1 + i % 4), seed=i), RATE)
        sf.write(gen / f"clip{i:02d}.wav", _tone(220 * (1 + i % 4) * 1.03, seed=100 + i, rate=22050), 22050)
    return gen, ref


ALL = ["fad", "fd", "kid", "kad", "isc", "kl", "kl_sigmoid", "psnr", "ssim", "lsd"]


def _bench(root: Path, metrics: list[str], generation: dict[str, Any] | None = None, **extra: Any) -> Path:
    import yaml

    spec: dict[str, Any] = {
        "name": "t2a",
        "task": "generation",
        "data": {"generated": "generated", "reference": "reference"},
        "metrics": metrics,
        "generation": {"kid_subsets": 5, "kid_subset_size": 4, "isc_splits": 2, **(generation or {})},
        **extra,
    }
    path = root / "bench_t2a.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(pytester: pytest.Pytester, env: dict[str, str], *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    for key, value in env.items():
        pytester._monkeypatch.setenv(key, value)
    pytester._monkeypatch.setenv("AUDIOLLM_CACHE_DIR", str(pytester.path / "cache"))
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--audiollm-results", str(out), "-rs", *args)
    return result, json.loads(out.read_text()) if out.exists() else {}


def _gates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics of the (only) generation run in a results document."""
    (run,) = [r for r in doc["runs"] if r["task"] == "generation"]
    return dict(run["metrics"])


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for run in doc["runs"] for row in run["samples"]]


def test_folder_against_folder_paired_with_bad_files(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    gen, ref = _folders(pytester.path)
    sf.write(gen / "silent.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(gen / "nan.wav", np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    (gen / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    sf.write(gen / "tiny.wav", _tone(500, seconds=0.01), RATE)  # 160 samples: too short for the PSNR mel
    for name in ("silent.wav", "nan.wav", "broken.wav", "tiny.wav"):
        sf.write(ref / name, _tone(500), RATE)
    _bench(pytester.path, ALL, thresholds={"fd": "<= 1e12", "psnr": ">= 0"})
    result, doc = _run(pytester, checkpoints)
    result.assert_outcomes(passed=8 + len(ALL), failed=4)
    text = result.stdout.str()
    assert "silent" in text and "NaN" in text and "cannot decode" in text and "too few" in text
    gates = _gates(doc)
    fd = gates["fd"]
    assert fd["mode"] == "paired" and fd["n"] == 8 and fd["n_reference"] == 12
    assert sorted(fd["excluded_reasons"]) == ["broken.wav", "nan.wav", "silent.wav", "tiny.wav"]
    assert fd["preset"]["name"] == "clean" and fd["backbone"]["name"] == "cnn14-16k"
    assert fd["backbone"]["official"] is False and len(fd["backbone"]["checkpoint_sha256"]) == 64
    assert any("rank-deficient" in w for w in fd["warnings"])  # N = 8 << 2048
    assert len(fd["outliers"]) == 8 and fd["outliers"][0]["score"] >= fd["outliers"][-1]["score"]
    assert gates["fad"]["computation"]["dim"] == 128 and gates["fad"]["n"] == 8  # files; frames are pooled rows
    assert gates["fad"]["computation"]["rows"][0] >= 8
    assert gates["kid"]["std"] is not None and gates["isc"]["value"] >= 1.0
    for name in ("kl", "kl_sigmoid", "psnr", "ssim", "lsd"):
        assert gates[name]["n"] == 8 and math.isfinite(gates[name]["value"]), name
    assert 0 < gates["ssim"]["value"] <= 1
    rows = _rows(doc)
    assert {r["id"] for r in rows if r["error"]} == {"broken.wav", "nan.wav", "silent.wav", "tiny.wav"}


def test_unpaired_skips_paired_metrics_and_missing_checkpoint_skips_with_command(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    _gen, ref = _folders(pytester.path, n=6)
    for path in sorted(ref.iterdir()):
        path.rename(ref / f"other_{path.name}")
    _bench(pytester.path, ["fd", "fad", "kl", "psnr"])
    env = {"AUDIOLLM_CNN14_16K_CHECKPOINT": checkpoints["AUDIOLLM_CNN14_16K_CHECKPOINT"],
           "AUDIOLLM_VGGISH_CHECKPOINT": str(pytester.path / "nowhere" / "vggish-10086976.pth")}  # fmt: skip
    result, doc = _run(pytester, env)
    result.assert_outcomes(passed=6 + 1, skipped=3)
    text = result.stdout.str()
    assert "unpaired" in text and "python -m pytest_audiollm download vggish" in text
    gates = _gates(doc)
    assert gates["fd"]["mode"] == "unpaired" and gates["fd"]["value"] is not None
    assert gates["kl"]["value"] is None and gates["fad"]["value"] is None


def test_cache_embeds_once_and_reembeds_changed_files(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    gen, _ = _folders(pytester.path, n=5)
    _bench(pytester.path, ["fd"])
    first, doc1 = _run(pytester, checkpoints)
    first.assert_outcomes(passed=6)
    cached = sorted((pytester.path / "cache").rglob("*.npz"))
    assert len(cached) == 10  # 5 generated + 5 reference files, CNN14 only
    _second, doc2 = _run(pytester, checkpoints)
    assert sorted((pytester.path / "cache").rglob("*.npz")) == cached
    assert _gates(doc2)["fd"]["value"] == pytest.approx(_gates(doc1)["fd"]["value"], rel=1e-12)
    sf.write(gen / "clip00.wav", _tone(1234, seed=7), RATE)  # a changed file is embedded again
    _third, doc3 = _run(pytester, checkpoints)
    assert len(sorted((pytester.path / "cache").rglob("*.npz"))) == 11
    assert _gates(doc3)["fd"]["value"] != _gates(doc1)["fd"]["value"]


def test_audioldm_eval_preset_pairs_by_basename_and_is_recorded(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    _gen, _ref = _folders(pytester.path, n=4)
    _bench(pytester.path, ["fd", "lsd"], generation={"preset": "audioldm_eval-0.0.3"})
    result, doc = _run(pytester, checkpoints)
    result.assert_outcomes(passed=6)
    fd = _gates(doc)["fd"]
    assert fd["preset"] == {
        "name": "audioldm_eval-0.0.3", "channel": "first", "remove_dc": True, "pad_to_samples": 32000,
        "pad_to_seconds": None, "resampler": "sinc_hann", "pair_by": "basename", "paired_share": 0.99,
        "lsd_offset": 1120,
    }  # fmt: skip
    assert "exceed 99%" in fd["mode_reason"]


GENERATOR_CONFTEST = '''
import numpy as np
import pytest
from pytest_audiollm import AudioGenerator

class Chirps(AudioGenerator):
    """Sine of a pitch read from the prompt (numbers in it)."""
    sample_rate = 16000
    calls = []
    def generate(self, prompts):
        type(self).calls.append(len(prompts))
        out = []
        for p in prompts:
            if "explode" in p:
                raise RuntimeError("generator exploded")
            freq = float([w for w in p.split() if w.isdigit()][0])
            t = np.arange(19200) / 16000
            out.append((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        return out

@pytest.hookimpl
def pytest_audiollm_register_generators(registry):
    registry.add("chirps", Chirps)
'''


@pytest.fixture(scope="session")
def tiny_clap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLAP checkpoint, built in a session fixture: transformers is then imported before pytester's
    snapshot of sys.modules, which would otherwise drop it after the test and break later imports (peft)."""
    from tiny_audio_models import build_tiny_clap

    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


def test_generator_registered_by_hook_is_compared_with_references(
    pytester: pytest.Pytester, checkpoints: dict[str, str], tiny_clap: Path
) -> None:
    import yaml

    pytester.makeconftest(GENERATOR_CONFTEST)
    (pytester.path / "ref").mkdir()
    lines = []
    for i, freq in enumerate([220, 330, 440, 550, 660]):
        sf.write(pytester.path / "ref" / f"r{i}.wav", _tone(freq, seed=i), RATE)
        lines.append(json.dumps({"id": f"p{i}", "audio": f"ref/r{i}.wav", "prompt": f"a tone at {freq} hertz"}))
    lines.append(json.dumps({"id": "p5", "audio": "ref/r0.wav", "prompt": "make it explode"}))
    (pytester.path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    spec = {"name": "t2a-prompts", "task": "generation", "metrics": ["fd", "psnr", "clap_score"],
            "data": {"format": "jsonl", "path": "prompts.jsonl"},
            "generation": {"clap_checkpoint": str(tiny_clap)}}  # fmt: skip
    (pytester.path / "bench_prompts.yaml").write_text(yaml.safe_dump(spec))
    result, doc = _run(pytester, checkpoints, "--audiollm-model", "chirps", "--audiollm-batch-size", "4")
    result.assert_outcomes(passed=5 + 3, failed=1)
    assert "generator exploded" in result.stdout.str()
    gates = _gates(doc)
    assert gates["clap_score"]["n"] == 5 and -1 <= gates["clap_score"]["value"] <= 1
    assert gates["fd"]["n"] == 5 and gates["psnr"]["mode"] == "paired" and gates["psnr"]["n"] == 5
    rows = {r["id"]: r for r in _rows(doc)}
    assert Path(rows["p0"]["prediction"]).is_file() and rows["p5"]["error_kind"] == "model"


def test_generation_benchmark_with_xdist_matches_serial(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    pytest.importorskip("xdist")
    _folders(pytester.path, n=6)
    _bench(pytester.path, ["fd", "kid", "psnr"])
    _serial, doc1 = _run(pytester, checkpoints)
    parallel, doc2 = _run(pytester, checkpoints, "-n", "2")
    parallel.assert_outcomes(passed=9)
    for metric in ("fd", "kid", "psnr"):
        assert _gates(doc2)[metric]["value"] == pytest.approx(_gates(doc1)[metric]["value"], rel=1e-9)


def test_forced_pairing_lists_orphans_and_small_sets_skip_with_numbers(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    gen, ref = _folders(pytester.path, n=4)
    sf.write(gen / "orphan.wav", _tone(700, seed=9), RATE)
    sf.write(ref / "lonely.wav", _tone(800, seed=10), RATE)
    _bench(
        pytester.path, ["psnr", "isc", "kid"], generation={"mode": "paired", "isc_splits": 10, "kid_subset_size": 50}
    )
    result, doc = _run(pytester, checkpoints)
    result.assert_outcomes(passed=5 + 2, skipped=1)  # isc: 5 files < 10 splits
    assert "isc_splits = 10 generated files, got 5" in result.stdout.str()
    gates = _gates(doc)
    assert gates["psnr"]["mode"] == "paired" and gates["psnr"]["n"] == 4  # the orphan has no partner
    assert gates["psnr"]["unpaired_generated"] == ["orphan"] and gates["psnr"]["unpaired_reference"] == ["lonely"]
    assert any("subset_size" in w or "clamp" in w for w in gates["kid"]["warnings"]), gates["kid"]["warnings"]
    rows = {r["id"]: r for r in _rows(doc)}
    assert "no usable reference partner" in rows["orphan.wav"]["notes"]["pair"]


def test_baseline_gates_per_file_metrics_with_a_paired_test_and_distances_by_value(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    gen, _ = _folders(pytester.path, n=8)
    _bench(pytester.path, ["psnr", "lsd", "fd", "kad"], max_regression={"kad": 0})
    first, _ = _run(pytester, checkpoints, "--audiollm-save-baseline", "base.json")
    first.assert_outcomes(passed=8 + 4)
    same, doc = _run(pytester, checkpoints, "--audiollm-baseline", "base.json")
    same.assert_outcomes(passed=8 + 4)  # the same files: nothing regressed
    assert _gates(doc)["psnr"]["baseline"]["p_value"] == 1.0
    rng = np.random.default_rng(3)
    for path in sorted(gen.iterdir()):  # a worse checkpoint: every file buried in noise
        wave, rate = sf.read(path, dtype="float32")
        sf.write(path, wave + 0.3 * rng.standard_normal(wave.size).astype(np.float32), rate)
    worse, doc = _run(pytester, checkpoints, "--audiollm-baseline", "base.json")
    text = worse.stdout.str()
    assert "psnr regressed against the baseline" in text and "paired_bootstrap" in text
    gates = _gates(doc)
    assert gates["psnr"]["baseline"]["regressed"] is True and gates["psnr"]["baseline"]["n_paired"] == 8
    assert gates["fd"]["baseline"]["test"] is None and "distribution metric" in gates["fd"]["baseline"]["note"]
    assert gates["kad"]["baseline"]["test"] == "value"  # gated by value because max_regression names it
    compared = pytester.run(sys.executable, "-m", "pytest_audiollm", "compare", "base.json", "results.json")
    assert compared.ret == 1 and "psnr" in compared.stdout.str()


def test_a_generator_that_cannot_load_skips_its_prompts_once_each(pytester: pytest.Pytester) -> None:
    import yaml

    pytester.makeconftest(
        "import pytest\n"
        "from pytest_audiollm import AudioGenerator, MissingDependency\n"
        "class Heavy(AudioGenerator):\n"
        "    def load(self, device):\n"
        "        raise MissingDependency('diffusers', 'the heavy generator')\n"
        "    def generate(self, prompts):\n"
        "        raise AssertionError('never called')\n"
        "@pytest.hookimpl\n"
        "def pytest_audiollm_register_generators(registry):\n"
        "    registry.add('heavy', Heavy)\n"
    )
    (pytester.path / "ref").mkdir()
    sf.write(pytester.path / "ref" / "a.wav", _tone(300), RATE)
    lines = [json.dumps({"id": f"p{i}", "audio": "ref/a.wav", "prompt": "a tone"}) for i in range(3)]
    (pytester.path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    spec = {
        "name": "heavy-t2a",
        "task": "generation",
        "metrics": ["psnr"],
        "data": {"format": "jsonl", "path": "prompts.jsonl"},
    }
    (pytester.path / "bench_heavy.yaml").write_text(yaml.safe_dump(spec))
    result, doc = _run(pytester, {}, "--audiollm-model", "heavy")
    result.assert_outcomes(skipped=4)
    assert "diffusers" in result.stdout.str()
    (run,) = doc["runs"]
    assert [r["error_kind"] for r in run["samples"]] == ["setup"] * 3  # one row per prompt, none doubled
