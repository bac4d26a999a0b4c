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

import numpy as np
import pytest
import soundfile as sf
from generation_helpers import ALL, GENERATOR_CONFTEST, RATE, bench, folders, gates_of, rows_of, run, tone

pytest.importorskip("torch")


def test_folder_against_folder_paired_with_bad_files(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    gen, ref = folders(pytester.path)
    sf.write(gen / "silent.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(gen / "nan.wav", np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    (gen / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    sf.write(gen / "tiny.wav", tone(500, seconds=0.01), RATE)  # 160 samples: too short for the PSNR mel
    for name in ("silent.wav", "nan.wav", "broken.wav", "tiny.wav"):
        sf.write(ref / name, tone(500), RATE)
    bench(pytester.path, ALL, thresholds={"fd": "<= 1e12", "psnr": ">= 0"})
    result, doc = run(pytester, checkpoints)
    result.assert_outcomes(passed=8 + len(ALL), failed=4)
    text = result.stdout.str()
    assert "silent" in text and "NaN" in text and "cannot decode" in text and "too few" in text
    gates = gates_of(doc)
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
    rows = rows_of(doc)
    assert {r["id"] for r in rows if r["error"]} == {"broken.wav", "nan.wav", "silent.wav", "tiny.wav"}


def test_unpaired_skips_paired_metrics_and_missing_checkpoint_skips_with_command(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    _gen, ref = folders(pytester.path, n=6)
    for path in sorted(ref.iterdir()):
        path.rename(ref / f"other_{path.name}")
    bench(pytester.path, ["fd", "fad", "kl", "psnr"])
    env = {"AUDIOLLM_CNN14_16K_CHECKPOINT": checkpoints["AUDIOLLM_CNN14_16K_CHECKPOINT"],
           "AUDIOLLM_VGGISH_CHECKPOINT": str(pytester.path / "nowhere" / "vggish-10086976.pth")}  # fmt: skip
    result, doc = run(pytester, env)
    result.assert_outcomes(passed=6 + 1, skipped=3)
    text = result.stdout.str()
    assert "unpaired" in text and "python -m pytest_audiollm download vggish" in text
    gates = gates_of(doc)
    assert gates["fd"]["mode"] == "unpaired" and gates["fd"]["value"] is not None
    assert gates["kl"]["value"] is None and gates["fad"]["value"] is None


def test_cache_embeds_once_and_reembeds_changed_files(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    gen, _ = folders(pytester.path, n=5)
    bench(pytester.path, ["fd"])
    first, doc1 = run(pytester, checkpoints)
    first.assert_outcomes(passed=6)
    cached = sorted((pytester.path / "cache").rglob("*.npz"))
    assert len(cached) == 10  # 5 generated + 5 reference files, CNN14 only
    _second, doc2 = run(pytester, checkpoints)
    assert sorted((pytester.path / "cache").rglob("*.npz")) == cached
    assert gates_of(doc2)["fd"]["value"] == pytest.approx(gates_of(doc1)["fd"]["value"], rel=1e-12)
    sf.write(gen / "clip00.wav", tone(1234, seed=7), RATE)  # a changed file is embedded again
    _third, doc3 = run(pytester, checkpoints)
    assert len(sorted((pytester.path / "cache").rglob("*.npz"))) == 11
    assert gates_of(doc3)["fd"]["value"] != gates_of(doc1)["fd"]["value"]


def test_audioldm_eval_preset_pairs_by_basename_and_is_recorded(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    _gen, _ref = folders(pytester.path, n=4)
    bench(pytester.path, ["fd", "lsd"], generation={"preset": "audioldm_eval-0.0.3"})
    result, doc = run(pytester, checkpoints)
    result.assert_outcomes(passed=6)
    fd = gates_of(doc)["fd"]
    assert fd["preset"] == {
        "name": "audioldm_eval-0.0.3", "channel": "first", "remove_dc": True, "pad_to_samples": 32000,
        "pad_to_seconds": None, "resampler": "sinc_hann", "pair_by": "basename", "paired_share": 0.99,
        "lsd_offset": 1120, "ssim_skips_identical": True,
    }  # fmt: skip
    assert "exceed 99%" in fd["mode_reason"]


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
        sf.write(pytester.path / "ref" / f"r{i}.wav", tone(freq, seed=i), RATE)
        lines.append(json.dumps({"id": f"p{i}", "audio": f"ref/r{i}.wav", "prompt": f"a tone at {freq} hertz"}))
    lines.append(json.dumps({"id": "p5", "audio": "ref/r0.wav", "prompt": "make it explode"}))
    (pytester.path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    spec = {"name": "t2a-prompts", "task": "generation", "metrics": ["fd", "psnr", "clap_score"],
            "data": {"format": "jsonl", "path": "prompts.jsonl"},
            "generation": {"clap_checkpoint": str(tiny_clap)}}  # fmt: skip
    (pytester.path / "bench_prompts.yaml").write_text(yaml.safe_dump(spec))
    result, doc = run(pytester, checkpoints, "--audiollm-model", "chirps", "--audiollm-batch-size", "4")
    result.assert_outcomes(passed=5 + 3, failed=1)
    assert "generator exploded" in result.stdout.str()
    gates = gates_of(doc)
    assert gates["clap_score"]["n"] == 5 and -1 <= gates["clap_score"]["value"] <= 1
    assert gates["fd"]["n"] == 5 and gates["psnr"]["mode"] == "paired" and gates["psnr"]["n"] == 5
    rows = {r["id"]: r for r in rows_of(doc)}
    assert Path(rows["p0"]["prediction"]).is_file() and rows["p5"]["error_kind"] == "model"


def test_generation_benchmark_with_xdist_matches_serial(pytester: pytest.Pytester, checkpoints: dict[str, str]) -> None:
    pytest.importorskip("xdist")
    folders(pytester.path, n=6)
    bench(pytester.path, ["fd", "kid", "psnr"])
    _serial, doc1 = run(pytester, checkpoints)
    parallel, doc2 = run(pytester, checkpoints, "-n", "2")
    parallel.assert_outcomes(passed=9)
    for metric in ("fd", "kid", "psnr"):
        assert gates_of(doc2)[metric]["value"] == pytest.approx(gates_of(doc1)[metric]["value"], rel=1e-9)


def test_forced_pairing_lists_orphans_and_small_sets_skip_with_numbers(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    gen, ref = folders(pytester.path, n=4)
    sf.write(gen / "orphan.wav", tone(700, seed=9), RATE)
    sf.write(ref / "lonely.wav", tone(800, seed=10), RATE)
    bench(pytester.path, ["psnr", "isc", "kid"], generation={"mode": "paired", "isc_splits": 10, "kid_subset_size": 50})
    result, doc = run(pytester, checkpoints)
    result.assert_outcomes(passed=5 + 2, skipped=1)  # isc: 5 files < 10 splits
    assert "isc_splits = 10 generated files, got 5" in result.stdout.str()
    gates = gates_of(doc)
    assert gates["psnr"]["mode"] == "paired" and gates["psnr"]["n"] == 4  # the orphan has no partner
    assert gates["psnr"]["unpaired_generated"] == ["orphan"] and gates["psnr"]["unpaired_reference"] == ["lonely"]
    assert any("subset_size" in w or "clamp" in w for w in gates["kid"]["warnings"]), gates["kid"]["warnings"]
    rows = {r["id"]: r for r in rows_of(doc)}
    assert "no usable reference partner" in rows["orphan.wav"]["notes"]["pair"]


def test_baseline_gates_per_file_metrics_with_a_paired_test_and_distances_by_value(
    pytester: pytest.Pytester, checkpoints: dict[str, str]
) -> None:
    gen, _ = folders(pytester.path, n=8)
    bench(pytester.path, ["psnr", "lsd", "fd", "kad"], max_regression={"kad": 0})
    first, _ = run(pytester, checkpoints, "--audiollm-save-baseline", "base.json")
    first.assert_outcomes(passed=8 + 4)
    same, doc = run(pytester, checkpoints, "--audiollm-baseline", "base.json")
    same.assert_outcomes(passed=8 + 4)  # the same files: nothing regressed
    assert gates_of(doc)["psnr"]["baseline"]["p_value"] == 1.0
    rng = np.random.default_rng(3)
    for path in sorted(gen.iterdir()):  # a worse checkpoint: every file buried in noise
        wave, rate = sf.read(path, dtype="float32")
        sf.write(path, wave + 0.3 * rng.standard_normal(wave.size).astype(np.float32), rate)
    worse, doc = run(pytester, checkpoints, "--audiollm-baseline", "base.json")
    text = worse.stdout.str()
    assert "psnr regressed against the baseline" in text and "paired_bootstrap" in text
    gates = gates_of(doc)
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
    sf.write(pytester.path / "ref" / "a.wav", tone(300), RATE)
    lines = [json.dumps({"id": f"p{i}", "audio": "ref/a.wav", "prompt": "a tone"}) for i in range(3)]
    (pytester.path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    spec = {
        "name": "heavy-t2a",
        "task": "generation",
        "metrics": ["psnr"],
        "data": {"format": "jsonl", "path": "prompts.jsonl"},
    }
    (pytester.path / "bench_heavy.yaml").write_text(yaml.safe_dump(spec))
    result, doc = run(pytester, {}, "--audiollm-model", "heavy")
    result.assert_outcomes(skipped=4)
    assert "diffusers" in result.stdout.str()
    (only,) = doc["runs"]
    assert [r["error_kind"] for r in only["samples"]] == ["setup"] * 3  # one row per prompt, none doubled
