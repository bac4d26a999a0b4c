"""The naturelm and salmonn adapters, run through real pytest sessions against stand-ins of the external code.

NatureLM-audio and SALMONN are not installable here (not on PyPI; multi-GB gated weights). The stand-ins under
tests/standins/ have their call surface (see tests/standins/README.md): they answer a species name from the
dominant frequency of each audio row and log every call they receive, so these tests check what the adapters
send (windows, prompt format, sample rate, generation settings) and what the plugin makes of the answers
(NatureLM-style window lines parsed by species_accuracy, windows in the results JSON). Without the package or
the repository, the items skip with the install instructions.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import TESTS, load_results

from pytest_audiollm.errors import AudioLLMError, MissingDependency
from pytest_audiollm.models.protocol import ModelOptions

STANDINS = TESTS / "standins"
RATE = 16000
PROMPT = "What is the common name for the focal species in the audio? Answer:"
FROG, BUNTING = "Green Treefrog", "Lazuli Bunting"
LLAMA3 = "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"

BENCH_YAML = f"""\
name: calls
version: "1"
task: species
data:
  format: jsonl
  path: calls.jsonl
  fields: {{audio: audio, reference: species}}
prompt: "{PROMPT}"
synonyms:
  Green Treefrog: [Hyla cinerea]
audio: {{sample_rate: 16000, max_seconds: 60}}
metrics: [species_accuracy]
thresholds: {{species_accuracy: ">= 0.6"}}
"""

Segment = tuple[float, float, float]  # seconds, frequency (Hz), amplitude


def write_benchmark(root: Path, clips: dict[str, tuple[list[Segment], str | list[str]]]) -> None:
    """bench_calls.yaml + calls.jsonl + one WAV per clip, each a sequence of tones."""
    lines = []
    for clip_id, (segments, species) in clips.items():
        parts = []
        for seconds, freq, amplitude in segments:
            t = np.arange(int(seconds * RATE)) / RATE
            parts.append(amplitude * np.sin(2 * np.pi * freq * t))
        path = root / "audio" / f"{clip_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.concatenate(parts).astype(np.float32), RATE)
        lines.append(json.dumps({"id": clip_id, "audio": f"audio/{clip_id}.wav", "species": species}))
    (root / "calls.jsonl").write_text("\n".join(lines) + "\n")
    (root / "bench_calls.yaml").write_text(BENCH_YAML)


def events(log: Path, kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [row for row in rows if row["event"] == kind]


def samples_by_id(results: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    run = load_results(results)["runs"][0]
    return run, {s["id"]: s for s in run["samples"]}


def write_safetensors(path: Path, n: int) -> None:
    """A tiny safetensors file: one float32 tensor of n elements (only its header matters here)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4 * n))


@pytest.fixture
def standin_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "standin.log"
    monkeypatch.setenv("AUDIOLLM_STANDIN_LOG", str(log))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the default hub checkpoint is never downloaded in these tests
    monkeypatch.delenv("AUDIOLLM_SALMONN_REPO", raising=False)
    return log


@pytest.fixture
def naturelm_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The NatureLM stand-in package on PYTHONPATH (subprocess sessions) and sys.path (this process)."""
    site = tmp_path / "site"
    shutil.copytree(STANDINS / "naturelm", site)
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.syspath_prepend(str(site))
    return site


# -- NatureLM ------------------------------------------------------------------------------------------------------

NATURELM_CLIPS: dict[str, tuple[list[Segment], str | list[str]]] = {
    "frog_long": ([(20, 500, 0.3), (5, 3000, 0.8)], FROG),  # 25 s: frog, frog, then a loud bunting
    "bunting_short": ([(4, 3000, 0.5)], [BUNTING, "Passerina amoena"]),  # fits one window
    "frog_mislabeled": ([(15, 500, 0.3)], BUNTING),  # a wrong reference: the metric must count it wrong
}


def test_naturelm_windows_are_joined_as_naturelm_lines_and_scored(
    pytester: pytest.Pytester, tmp_path: Path, standin_log: Path, naturelm_site: Path
) -> None:
    write_benchmark(pytester.path, NATURELM_CLIPS)
    checkpoint = tmp_path / "naturelm-ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"llama_path": "meta-llama/Meta-Llama-3.1-8B-Instruct"}))
    write_safetensors(checkpoint / "model.safetensors", 16)
    result = pytester.runpytest_subprocess(
        "bench_calls.yaml", "--audiollm-model", "naturelm", "--audiollm-model-arg", f"path={checkpoint}",
        "--audiollm-batch-size", "2", "--audiollm-device", "cpu", "--audiollm-results", "r.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=4)  # 3 samples + the species_accuracy gate (2 of 3 right >= 0.6)
    run, samples = samples_by_id(pytester.path / "r.json")
    assert samples["frog_long"]["prediction"] == (
        f"#0.00s - 10.00s#: {FROG}\n#10.00s - 20.00s#: {FROG}\n#20.00s - 25.00s#: {BUNTING}"
    )
    assert samples["frog_mislabeled"]["prediction"] == f"#0.00s - 10.00s#: {FROG}\n#10.00s - 15.00s#: {FROG}"
    assert samples["bunting_short"]["prediction"] == BUNTING  # one window: NatureLM's answer as it is
    assert {k: samples["frog_long"]["audio"][k] for k in ("windows", "window_s", "hop_s")} == {
        "windows": 3, "window_s": 10.0, "hop_s": 10.0,
    }  # fmt: skip
    assert samples["frog_mislabeled"]["audio"]["windows"] == 2 and "windows" not in samples["bunting_short"]["audio"]
    assert [samples[k]["scores"]["species_accuracy"] for k in NATURELM_CLIPS] == [1.0, 1.0, 0.0]
    assert run["metrics"]["species_accuracy"]["value"] == pytest.approx(2 / 3)
    assert run["memory"]["estimate_bytes"] == 32  # 16 parameters in bfloat16, from the safetensors header
    assert run["model_fingerprint"].startswith("naturelm:") and "hop=10" in run["model_fingerprint"]

    (loaded,) = events(standin_log, "from_pretrained")
    assert loaded == {"event": "from_pretrained", "target": str(checkpoint), "kwargs": {}}
    processed = events(standin_log, "processor")
    assert {rate for p in processed for rate in p["rates"]} == {RATE}
    lengths = sorted(n for p in processed[1:] for n in p["lengths"])
    assert lengths == sorted([160000, 160000, 80000, 64000, 160000, 80000])  # never more than 10 s
    warmup, *calls = events(standin_log, "generate")
    assert warmup["max_new_tokens"] == 2 and warmup["shape"] == [1, 160000]
    assert sum(c["shape"][0] for c in calls) == 6 and max(c["shape"][0] for c in calls) >= 2  # windows batched
    for call in calls:
        assert call["shape"][1] == 160000 and call["dtype"] == "torch.float32" and call["device"] == "cpu"
        assert call["prompts"] == [LLAMA3.format(f"<Audio><AudioHere></Audio> {PROMPT}")] * call["shape"][0]
        assert call["same_prompts"] and call["chunk_sizes"] == 1 and call["padded"] == 0
        assert (call["max_new_tokens"], call["num_beams"], call["merging_alpha"]) == (300, 2, 1.0)
        assert call["pad_token_id"] == 128009 and call["training"] is False


def test_naturelm_hop_and_generation_args_and_the_default_hub_checkpoint(
    pytester: pytest.Pytester, standin_log: Path, naturelm_site: Path
) -> None:
    write_benchmark(pytester.path, {"frog_long": NATURELM_CLIPS["frog_long"]})
    args = ("window_hop_seconds=5", "revision=v1.0", "max_new_tokens=20", "num_beams=1", "merging_alpha=0.5")
    result = pytester.runpytest_subprocess(
        "bench_calls.yaml", "--audiollm-model", "naturelm", *(a for arg in args for a in ("--audiollm-model-arg", arg)),
        "--audiollm-device", "cpu", "--audiollm-results", "r.json", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    run, samples = samples_by_id(pytester.path / "r.json")
    assert samples["frog_long"]["prediction"] == "\n".join(
        f"#{a:.2f}s - {b:.2f}s#: {label}"
        for (a, b), label in zip([(0, 10), (5, 15), (10, 20), (15, 25)], [FROG, FROG, FROG, BUNTING], strict=True)
    )
    assert samples["frog_long"]["audio"]["windows"] == 4 and samples["frog_long"]["audio"]["hop_s"] == 5.0
    assert run["memory"]["estimate_bytes"] == 16_400_000_000  # ~8.2B parameters in bfloat16
    (loaded,) = events(standin_log, "from_pretrained")
    assert loaded["target"] == "EarthSpeciesProject/NatureLM-audio" and loaded["kwargs"] == {"revision": "v1.0"}
    _, call = events(standin_log, "generate")
    assert (call["shape"], call["max_new_tokens"], call["num_beams"], call["merging_alpha"]) == (
        [4, 160000], 20, 1, 0.5,
    )  # fmt: skip


def test_naturelm_without_its_package_skips_with_the_install_command(pytester: pytest.Pytester) -> None:
    """The sample skips with the install command; its gate, which has a threshold, fails: it was never checked."""
    write_benchmark(pytester.path, {"bunting_short": NATURELM_CLIPS["bunting_short"]})
    result = pytester.runpytest_subprocess("bench_calls.yaml", "--audiollm-model", "naturelm", "-rs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*needs the 'NatureLM' package*pip install git+https://github.com/earthspecies/*"])
    result.stdout.fnmatch_lines(["*could not be checked, so it fails; pass --audiollm-allow-skipped-gates*"])
    allowed = pytester.runpytest_subprocess(
        "bench_calls.yaml", "--audiollm-model", "naturelm", "--audiollm-allow-skipped-gates"
    )
    allowed.assert_outcomes(skipped=2)


def test_naturelm_settings_and_join(naturelm_site: Path) -> None:
    from pytest_audiollm.models.adapters.naturelm import naturelm_factory
    from pytest_audiollm.models.protocol import Request
    from pytest_audiollm.sample import Sample

    model = naturelm_factory(ModelOptions(name="naturelm"))
    assert (model.max_audio_seconds, model.window_hop_seconds, model.sample_rate) == (10.0, 10.0, 16000)
    with pytest.raises(AudioLLMError, match="window_hop_seconds=12 must be more than 0 and at most 10"):
        naturelm_factory(ModelOptions(name="naturelm", extra={"window_hop_seconds": 12}))
    with pytest.raises(AudioLLMError, match="num_beams='two' is not a number"):
        naturelm_factory(ModelOptions(name="naturelm", extra={"num_beams": "two"}))
    request = Request(np.zeros(RATE, np.float32), RATE, PROMPT, Sample("s", None, ()), task="species")
    windows = [(0.0, 10.0), (5.0, 12.5)]
    assert model.join_windows(["Green\nTreefrog ", "None"], windows, request) == (
        "#0.00s - 10.00s#: Green Treefrog\n#5.00s - 12.50s#: None"
    )
    caption = Request(np.zeros(RATE, np.float32), RATE, "Caption the audio.", Sample("s", None, ()), task="captioning")
    assert model.join_windows(["A frog calls.", "A bird sings."], windows, caption) == "A frog calls. A bird sings."


def test_naturelm_missing_package_is_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_audiollm.models.adapters.naturelm import naturelm_factory

    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # hide any installed NatureLM
    with pytest.raises(MissingDependency) as info:
        naturelm_factory(ModelOptions(name="naturelm"))
    assert info.value.install == "pip install git+https://github.com/earthspecies/NatureLM-audio"


# -- SALMONN -------------------------------------------------------------------------------------------------------


def salmonn_checkpoints(root: Path) -> dict[str, Path]:
    """Stand-in checkpoint paths: a Vicuna dir (fp16 config + one weight file), a Whisper dir (config +
    feature-extractor config), the BEATs and SALMONN checkpoint files."""
    vicuna, whisper = root / "vicuna-13b-v1.1", root / "whisper-large-v2"
    vicuna.mkdir()
    whisper.mkdir()
    (vicuna / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    (vicuna / "pytorch_model.bin").write_bytes(bytes(1000))
    (whisper / "config.json").write_text(json.dumps({"d_model": 8, "encoder_layers": 1, "num_mel_bins": 80}))
    (whisper / "preprocessor_config.json").write_text(
        json.dumps({"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80, "sampling_rate": RATE})
    )
    beats, ckpt = root / "BEATs.pt", root / "salmonn_v1.pth"
    beats.write_bytes(bytes(100))
    ckpt.write_bytes(bytes(200))
    return {"llama_path": vicuna, "whisper_path": whisper, "beats_path": beats, "ckpt": ckpt}


SALMONN_CLIPS: dict[str, tuple[list[Segment], str | list[str]]] = {
    "frog_45s": ([(35, 500, 0.3), (10, 3000, 0.8)], FROG),  # windows 0-30 s (frog) and 30-45 s (bunting louder)
    "bunting_half_second": ([(0.5, 3000, 0.5)], BUNTING),  # padded to 1 s
}


def test_salmonn_runs_from_a_repository_checkout(pytester: pytest.Pytester, tmp_path: Path, standin_log: Path) -> None:
    repo = tmp_path / "SALMONN"
    shutil.copytree(STANDINS / "salmonn", repo)
    paths = salmonn_checkpoints(tmp_path)
    write_benchmark(pytester.path, SALMONN_CLIPS)
    args = [f"repo={repo}", *(f"{k}={v}" for k, v in paths.items())]
    result = pytester.runpytest_subprocess(
        "bench_calls.yaml", "--audiollm-model", "salmonn", *(a for arg in args for a in ("--audiollm-model-arg", arg)),
        "--audiollm-batch-size", "2", "--audiollm-device", "cpu", "--audiollm-results", "r.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=3)
    run, samples = samples_by_id(pytester.path / "r.json")
    assert samples["frog_45s"]["prediction"] == f"#0.00s - 30.00s#: {FROG}\n#30.00s - 45.00s#: {BUNTING}"
    assert samples["frog_45s"]["audio"]["windows"] == 2 and samples["frog_45s"]["audio"]["window_s"] == 30.0
    assert samples["bunting_half_second"]["prediction"] == BUNTING  # "</s><unk>" cut off
    assert run["metrics"]["species_accuracy"]["value"] == 1.0  # the 1:1 tie goes to the first window's frog
    encoder = 1 * 12 * 8 * 8 + 3 * 8 * (80 + 8) + 1500 * 8  # the stand-in Whisper config's encoder parameters
    assert run["memory"]["estimate_bytes"] == 1000 + 4 * encoder + 100 + 200
    assert run["model_fingerprint"].startswith("salmonn:")

    (built,) = events(standin_log, "from_config")
    assert built["paths"]["prompt_path"] == str(repo / "prompts" / "train_prompt.json")  # resolved in the repo
    assert built["paths"]["ckpt"] == str(paths["ckpt"]) and all(
        built["exist"][k] for k in ("llama_path", "whisper_path", "beats_path", "ckpt")
    )
    warmup, *calls = events(standin_log, "generate")
    assert warmup["max_new_tokens"] == 2 and warmup["lengths"] == [RATE]
    assert sorted(n for c in calls for n in c["lengths"]) == [RATE, 15 * RATE, 30 * RATE]  # 0.5 s padded to 1 s
    for call in calls:
        rows = call["raw_wav"][0]
        assert call["spectrogram"] == [rows, 80, 3000] and call["raw_wav"][1] == max(call["lengths"])
        assert call["prompts"] == [f"USER: <Speech><SpeechHere></Speech> {PROMPT}\nASSISTANT:"] * rows
        assert (call["max_new_tokens"], call["num_beams"]) == (200, 4)  # from the repository's decode config
        assert call["dtype"] == "torch.float32" and call["autocast"] is False and call["training"] is False


def test_salmonn_without_a_repository_skips_with_instructions(pytester: pytest.Pytester, standin_log: Path) -> None:
    write_benchmark(pytester.path, {"bunting_half_second": SALMONN_CLIPS["bunting_half_second"]})
    result = pytester.runpytest_subprocess(
        "bench_calls.yaml", "--audiollm-model", "salmonn", "-rs", "--audiollm-allow-skipped-gates"
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*needs a clone of the SALMONN repository*git clone -b salmonn https://github.com/*"])


def test_salmonn_configuration_errors_name_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_audiollm.models.adapters.salmonn import SALMONNModel, salmonn_factory

    monkeypatch.delenv("AUDIOLLM_SALMONN_REPO", raising=False)
    with pytest.raises(MissingDependency, match="found no SALMONN checkout at"):
        salmonn_factory(ModelOptions(name="salmonn", extra={"repo": str(tmp_path)}))
    repo = tmp_path / "SALMONN"
    shutil.copytree(STANDINS / "salmonn", repo)
    monkeypatch.setenv("AUDIOLLM_SALMONN_REPO", str(repo))
    with pytest.raises(AudioLLMError, match=r"llama_path \(the Vicuna LLM directory.*\): path to llama model") as info:
        salmonn_factory(ModelOptions(name="salmonn"))
    assert "ckpt (the SALMONN checkpoint (salmonn_v1.pth)): model ckpt" in str(info.value)
    paths = {k: str(v) for k, v in salmonn_checkpoints(tmp_path).items()}
    paths["vicuna_path"] = paths.pop("llama_path")  # the alias
    model = salmonn_factory(ModelOptions(name="salmonn", extra={**paths, "num_beams": 1, "window_hop_seconds": 20}))
    assert model.model_config["llama_path"] == paths["vicuna_path"] and model.generate_config["num_beams"] == 1
    assert (model.max_audio_seconds, model.window_hop_seconds) == (30.0, 20.0)
    assert model.prompt("Caption it.") == "USER: <Speech><SpeechHere></Speech> Caption it.\nASSISTANT:"
    assert model.prompt("<Speech><SpeechHere></Speech> Hi") == "USER: <Speech><SpeechHere></Speech> Hi\nASSISTANT:"
    assert SALMONNModel.clean("<s> A frog calls.</s><unk><unk>") == "A frog calls."


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("import salmonn_dependency_not_installed", "needs the 'salmonn_dependency_not_installed' package"),
        ("from numpy import name_of_an_older_version", "cannot import SALMONN's code with the installed packages"),
    ],
)
def test_salmonn_code_that_does_not_import_is_a_missing_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, expected: str
) -> None:
    from pytest_audiollm.models.adapters.salmonn import salmonn_factory

    repo = tmp_path / "SALMONN"
    shutil.copytree(STANDINS / "salmonn", repo)
    (repo / "models" / "__init__.py").write_text(line + "\n")
    paths = {k: str(v) for k, v in salmonn_checkpoints(tmp_path).items()}
    model = salmonn_factory(ModelOptions(name="salmonn", extra={"repo": str(repo), **paths}))
    with pytest.raises(MissingDependency, match=expected) as info:
        model.load("cpu")
    assert "SALMONN pins transformers==4.28.0" in str(info.value)
    assert info.value.install == f"pip install -r {repo.resolve() / 'requirements.txt'}"
