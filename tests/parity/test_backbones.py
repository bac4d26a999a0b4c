"""The CNN14 and VGGish backbones against their reference code, with random weights in the official layout.

References (both installed with ``--no-deps``): the PANNs ``Cnn14`` that ``audioldm-eval==0.0.3`` ships
(``audioldm_eval/feature_extractors/panns/models.py``, loaded from its file because the package ``__init__``
imports torchaudio; it needs torchlibrosa + librosa) and ``torchvggish==0.2`` (``VGG`` + ``vggish_input``;
``vggish_input`` imports resampy at module top). Parity tolerance: ``max |ours - ref| <= 1e-5 * max(1, max |ref|)``
(absolute on outputs of order 1, relative on larger ones).

The official checkpoints are used only when ``AUDIOLLM_CNN14_16K_CHECKPOINT``, ``AUDIOLLM_CNN14_32K_CHECKPOINT``
or ``AUDIOLLM_VGGISH_CHECKPOINT`` point to them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pytest_audiollm.errors import SampleError  # noqa: E402
from pytest_audiollm.features.backbones import (  # noqa: E402
    CNN14_CONFIGS,
    Cnn14Embedder,
    Embedder,
    StateDictMismatch,
    VGGishEmbedder,
    build_cnn14,
    build_vggish,
    vggish_examples,
)

TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _close(ours: Any, ref: Any) -> float:
    """Largest difference, on the scale ``max(1, max |ref|)``."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _audio(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (200 + 300 * seed) * t) * np.linspace(0.2, 1.0, t.size)
    return (tone + 0.05 * rng.normal(size=t.size)).astype(np.float32)


# ------------------------------------------------------------------ references


def _panns_models() -> ModuleType:
    pytest.importorskip("torchlibrosa")
    pytest.importorskip("librosa")
    spec = importlib.util.find_spec("audioldm_eval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("audioldm-eval==0.0.3 not installed")
    panns = Path(next(iter(spec.submodule_search_locations))) / "feature_extractors" / "panns"

    def load(name: str, path: Path) -> ModuleType:
        mspec = importlib.util.spec_from_file_location(name, path)
        assert mspec is not None and mspec.loader is not None
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
        return module

    utils = load("_panns_ref_pytorch_utils", panns / "pytorch_utils.py")
    # models.py imports audioldm_eval.feature_extractors.panns.pytorch_utils by its full name
    with mock.patch.dict(sys.modules, {"audioldm_eval.feature_extractors.panns.pytorch_utils": utils}):
        return load("_panns_ref_models", panns / "models.py")


def _reference_cnn14(rate: int, state_dict: dict[str, Any], tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """audioldm_eval's own ``Cnn14(...)`` as ``EvaluationHelper`` builds it; its ``torch.load`` gets our dict."""
    models = _panns_models()
    config = CNN14_CONFIGS[rate]
    (tmp / "ckpt").mkdir(exist_ok=True)
    (tmp / "ckpt" / "Cnn14_mAP=0.431.pth").touch()  # the constructor runs `wget` unless this file exists
    loaded: list[str] = []

    def fake_load(path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        loaded.append(os.path.basename(path))
        return {"model": state_dict}

    def no_system(command: str) -> int:
        raise AssertionError(f"reference tried to run {command!r}")

    with monkeypatch.context() as patch:
        patch.chdir(tmp)
        patch.setattr(models.torch, "load", fake_load)
        patch.setattr(models.os, "system", no_system)
        model = models.Cnn14(
            features_list=["2048", "logits"],
            sample_rate=rate,
            window_size=config.window_size,
            hop_size=config.hop_size,
            mel_bins=64,
            fmin=50,
            fmax=int(config.fmax),
            classes_num=527,
        )
    assert loaded == [config.checkpoint_name]
    return model.eval()


def _official_cnn14_state_dict(rate: int, seed: int) -> dict[str, Any]:
    """Random weights with the official keys/shapes; front end = torchlibrosa's tensors perturbed by ~1 %."""
    from torchlibrosa.stft import LogmelFilterBank, Spectrogram

    config = CNN14_CONFIGS[rate]
    gen = torch.Generator().manual_seed(seed)
    spec = Spectrogram(n_fft=config.window_size, hop_length=config.hop_size, win_length=config.window_size)
    mel = LogmelFilterBank(sr=rate, n_fft=config.window_size, n_mels=64, fmin=50, fmax=config.fmax, top_db=None)

    def perturb(t: Any) -> Any:
        return t * (1 + 0.01 * torch.randn(t.shape, generator=gen))

    def bn(prefix: str, n: int, mean: float = 0.0, scale: float = 0.1, var: tuple[float, float] = (0.5, 1.5)) -> None:
        sd[f"{prefix}.weight"] = 0.8 + 0.4 * torch.rand(n, generator=gen)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(n, generator=gen)
        sd[f"{prefix}.running_mean"] = mean + scale * torch.randn(n, generator=gen)
        sd[f"{prefix}.running_var"] = var[0] + (var[1] - var[0]) * torch.rand(n, generator=gen)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(int(torch.randint(1, 10**6, (1,), generator=gen)))

    def he(*shape: int) -> Any:
        fan_in = int(np.prod(shape[1:]))
        return torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5

    sd: dict[str, Any] = {
        "spectrogram_extractor.stft.conv_real.weight": perturb(spec.stft.conv_real.weight.detach()),
        "spectrogram_extractor.stft.conv_imag.weight": perturb(spec.stft.conv_imag.weight.detach()),
        "logmel_extractor.melW": perturb(mel.melW.detach()),
    }
    bn("bn0", 64, mean=-45.0, scale=5.0, var=(150.0, 400.0))
    channels = [1, 64, 128, 256, 512, 1024, 2048]
    for k in range(1, 7):
        c_in, c_out = channels[k - 1], channels[k]
        sd[f"conv_block{k}.conv1.weight"] = he(c_out, c_in, 3, 3)
        sd[f"conv_block{k}.conv2.weight"] = he(c_out, c_out, 3, 3)
        bn(f"conv_block{k}.bn1", c_out)
        bn(f"conv_block{k}.bn2", c_out)
    sd["fc1.weight"] = he(2048, 2048)
    sd["fc1.bias"] = 0.1 * torch.randn(2048, generator=gen)
    sd["fc_audioset.weight"] = he(527, 2048)
    sd["fc_audioset.bias"] = 0.1 * torch.randn(527, generator=gen)
    return sd


@pytest.fixture(scope="module", params=[16000, 32000], ids=["16k", "32k"])
def cnn14_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    rate = int(request.param)
    state_dict = _official_cnn14_state_dict(rate, seed=rate)
    with pytest.MonkeyPatch.context() as monkeypatch:
        reference = _reference_cnn14(rate, state_dict, tmp_path_factory.mktemp("panns"), monkeypatch)
    ours = build_cnn14(rate).load_official({"model": state_dict, "iteration": 1})
    yield rate, ours, reference, state_dict


# ------------------------------------------------------------------ CNN14


def test_cnn14_state_dict_keys_are_the_official_ones(cnn14_pair: tuple[Any, ...]) -> None:
    _, ours, reference, state_dict = cnn14_pair
    ours_sd, ref_sd = ours.state_dict(), reference.state_dict()
    assert list(ours_sd) == list(ref_sd)
    assert len(ours_sd) == 84
    assert {k: tuple(v.shape) for k, v in ours_sd.items()} == {k: tuple(v.shape) for k, v in ref_sd.items()}
    assert set(state_dict) == set(ours_sd)


def test_cnn14_forward_matches_audioldm_eval(cnn14_pair: tuple[Any, ...]) -> None:
    rate, ours, reference, _ = cnn14_pair
    batch = torch.from_numpy(np.stack([_audio(0.5, rate, 0), _audio(0.5, rate, 1)]))
    with torch.inference_mode():
        mine = ours(batch)
        ref = reference(batch)
    assert mine["embedding"].shape == (2, 2048) and mine["logits"].shape == (2, 527)
    assert float(ref["2048"].abs().max()) > 0.1  # non-trivial activations
    assert _close(mine["embedding"], ref["2048"]) <= TOL
    assert _close(mine["logits"], ref["logits"]) <= TOL


@pytest.mark.parametrize("cnn14_pair", [16000], indirect=True, ids=["16k"])  # the batching is rate-independent
def test_cnn14_embedder_batches_lengths_like_one_at_a_time(cnn14_pair: tuple[Any, ...]) -> None:
    rate, ours, reference, _ = cnn14_pair
    clips = [_audio(s, rate, i) for i, s in enumerate([0.4, 0.5, 0.4, 0.45, 0.4])]
    embedder = Cnn14Embedder(ours, max_batch_frames=100)  # 0.4 s clips (41 frames): batches of 2 and 1
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.sample_rate, embedder.dim) == (f"cnn14-{rate // 1000}k", rate, 2048)
    out = embedder.embed(clips)
    assert out.logits is not None and len(out.embeddings) == len(out.logits) == len(clips)
    with torch.inference_mode():
        for clip, emb, logits in zip(clips, out.embeddings, out.logits, strict=True):
            ref = reference(torch.from_numpy(clip)[None])
            assert emb.dtype == np.float64 and emb.shape == (1, 2048) and logits.shape == (1, 527)
            assert _close(emb, ref["2048"]) <= TOL
            assert _close(logits, ref["logits"]) <= TOL


@pytest.mark.parametrize("cnn14_pair", [16000], indirect=True, ids=["16k"])
def test_cnn14_embedder_pads_and_rejects_too_short_clips(cnn14_pair: tuple[Any, ...]) -> None:
    rate, ours, reference, _ = cnn14_pair
    short = _audio(0.2, rate, 3)
    with pytest.raises(SampleError, match="at least"):
        Cnn14Embedder(ours).embed([short])
    padded = Cnn14Embedder(ours, pad_to_samples=8000).embed([short]).embeddings[0]
    with torch.inference_mode():
        ref = reference(torch.from_numpy(np.pad(short, (0, 8000 - short.size)))[None])["2048"]
    assert _close(padded, ref) <= TOL
    with pytest.raises(SampleError, match="mono"):
        Cnn14Embedder(ours).embed([np.zeros((2, rate), dtype=np.float32)])


def test_cnn14_default_front_end_equals_torchlibrosa() -> None:
    pytest.importorskip("torchlibrosa")
    from torchlibrosa.stft import LogmelFilterBank, Spectrogram

    from pytest_audiollm.features.backbones import _common

    for rate, config in CNN14_CONFIGS.items():
        ours_spec = _common.Spectrogram(config.window_size, config.hop_size)  # what build_cnn14 uses
        ours_mel = _common.LogmelFilterBank(rate, config.window_size, 64, config.fmin, config.fmax)
        spec = Spectrogram(n_fft=config.window_size, hop_length=config.hop_size, win_length=config.window_size)
        mel = LogmelFilterBank(sr=rate, n_fft=config.window_size, n_mels=64, fmin=50, fmax=config.fmax)
        for ours, ref in (
            (ours_spec.stft.conv_real.weight, spec.stft.conv_real.weight),
            (ours_spec.stft.conv_imag.weight, spec.stft.conv_imag.weight),
            (ours_mel.melW, mel.melW),
        ):
            assert ours.shape == ref.shape
            assert float((ours - ref).abs().max()) <= 1e-6 * float(ref.abs().max())


def test_cnn14_load_official_errors_name_the_keys() -> None:
    with pytest.raises(ValueError, match="16000 and 32000"):
        build_cnn14(44100)
    model = build_cnn14(16000)
    wrong_rate = build_cnn14(32000).state_dict()
    with pytest.raises(StateDictMismatch, match=r"build_cnn14\(32000\)") as info:
        model.load_official({"model": wrong_rate})
    assert "spectrogram_extractor.stft.conv_real.weight" in str(info.value)
    broken = dict(model.state_dict())
    del broken["fc1.weight"]
    broken["head.weight"] = torch.zeros(1)
    with pytest.raises(StateDictMismatch, match=r"1 missing keys: fc1\.weight; 1 unexpected keys: head\.weight"):
        model.load_official(broken)
    embedder = Cnn14Embedder.from_state_dict({"model": wrong_rate, "sampler": None}, 32000)
    assert embedder.name == "cnn14-32k" and embedder.model.config.hop_size == 320


# ------------------------------------------------------------------ VGGish


def _torchvggish() -> tuple[Any, ModuleType]:
    pytest.importorskip("resampy")
    tv = pytest.importorskip("torchvggish")
    from torchvggish import vggish_input

    return tv, vggish_input


def _official_vggish_state_dict(seed: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    convs = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    for i, (c_out, c_in) in convs.items():
        sd[f"features.{i}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * (2.0 / (9 * c_in)) ** 0.5
        sd[f"features.{i}.bias"] = 0.1 * torch.randn(c_out, generator=gen)
    for i, (n_out, n_in) in {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}.items():
        sd[f"embeddings.{i}.weight"] = torch.randn(n_out, n_in, generator=gen) * (2.0 / n_in) ** 0.5
        sd[f"embeddings.{i}.bias"] = 0.1 * torch.randn(n_out, generator=gen)
    return sd


@pytest.fixture(scope="module")
def vggish_pair() -> tuple[Any, Any, dict[str, Any]]:
    tv, _ = _torchvggish()
    state_dict = _official_vggish_state_dict(seed=7)
    reference = tv.torchvggish._vgg(postprocess=False)  # PyPI torchvggish 0.2: no download without PCA
    reference.load_state_dict(state_dict)
    # audioldm_eval's FrechetAudioDistance(use_activation=False): drop the final ReLU
    reference.embeddings = torch.nn.Sequential(*list(reference.embeddings.children())[:-1])
    ours = build_vggish().load_official({**state_dict, "pproc.pca_means": torch.zeros(128, 1)})
    return ours, reference.eval(), state_dict


def test_vggish_state_dict_keys_are_the_official_ones(vggish_pair: tuple[Any, Any, dict[str, Any]]) -> None:
    ours, reference, state_dict = vggish_pair
    assert list(ours.state_dict()) == list(reference.state_dict()) == list(state_dict)
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == shapes


@pytest.mark.parametrize("samples", [16000 * 3, 16000 * 2 + 7777, 15999, 16000 * 4 - 1, 400 + 160 * 95])
def test_vggish_examples_equal_waveform_to_examples(samples: int) -> None:
    _, vggish_input = _torchvggish()
    wave = _audio(samples / 16000, 16000, 5)[:samples]
    ref = vggish_input.waveform_to_examples(wave, 16000, return_tensor=False)
    ours = vggish_examples(wave, 16000)
    assert ours.shape == ref.shape and ours.dtype == np.float64
    if ref.size:
        assert float(np.max(np.abs(ours - ref))) <= 1e-9
    with pytest.raises(ValueError, match="16000 Hz"):
        vggish_examples(wave, 32000)


def test_vggish_examples_of_short_audio_are_empty() -> None:
    for samples in (0, 100, 399, 400 + 160 * 94):  # 95 frames: no complete example
        assert vggish_examples(np.zeros(samples, dtype=np.float32)).shape == (0, 96, 64)


def test_vggish_forward_matches_torchvggish(vggish_pair: tuple[Any, Any, dict[str, Any]]) -> None:
    ours, reference, _ = vggish_pair
    _, vggish_input = _torchvggish()
    examples = vggish_input.waveform_to_examples(_audio(3.0, 16000, 2), 16000)  # the tensor audioldm_eval feeds
    with torch.inference_mode():
        mine = ours(examples)
        ref = reference(examples)
    assert mine.shape == (3, 128)
    assert float(ref.abs().max()) > 0.1 and float(ref.min()) < 0  # final ReLU removed
    assert _close(mine, ref) <= TOL


def test_vggish_embedder(vggish_pair: tuple[Any, Any, dict[str, Any]]) -> None:
    ours, reference, _ = vggish_pair
    _, vggish_input = _torchvggish()
    clips = [_audio(s, 16000, i) for i, s in enumerate([2.5, 0.5, 1.0])]
    embedder = VGGishEmbedder(ours, batch_size=2)
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.sample_rate, embedder.dim) == ("vggish", 16000, 128)
    out = embedder.embed(clips)
    assert out.logits is None
    assert [e.shape for e in out.embeddings] == [(2, 128), (0, 128), (1, 128)]
    with torch.inference_mode():
        for clip, emb in zip(clips, out.embeddings, strict=True):
            if emb.shape[0]:
                assert emb.dtype == np.float64
                assert _close(emb, reference(vggish_input.waveform_to_examples(clip, 16000))) <= TOL
    padded = VGGishEmbedder(ours, pad_to_samples=32000).embed([clips[1]]).embeddings[0]
    assert padded.shape == (2, 128)
    again = VGGishEmbedder.from_state_dict(ours.state_dict()).embed(clips[:1]).embeddings[0]
    assert np.array_equal(again, out.embeddings[0])


def test_vggish_load_official_rejects_other_layouts() -> None:
    model = build_vggish()
    sd = dict(model.state_dict())
    sd["embeddings.6.weight"] = torch.zeros(128, 128)  # e.g. a checkpoint with an extra layer
    with pytest.raises(StateDictMismatch, match=r"unexpected keys: embeddings\.6\.weight.*vggish-10086976\.pth"):
        model.load_official(sd)


# ------------------------------------------------------------------ official checkpoints (opt-in)


def _checkpoint(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is not set (path to the official checkpoint); the real-weights test is opt-in")
    return Path(value)


def _torch_load(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=False)  # the official files pickle numpy scalars


@pytest.mark.parametrize(
    ("rate", "var"), [(16000, "AUDIOLLM_CNN14_16K_CHECKPOINT"), (32000, "AUDIOLLM_CNN14_32K_CHECKPOINT")]
)
def test_official_cnn14_checkpoint(rate: int, var: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = _torch_load(_checkpoint(var))
    ours = build_cnn14(rate).load_official(checkpoint)
    reference = _reference_cnn14(rate, checkpoint["model"], tmp_path, monkeypatch)
    clip = torch.from_numpy(_audio(2.0, rate, 4))[None]
    with torch.inference_mode():
        mine, ref = ours(clip), reference(clip)
    assert _close(mine["embedding"], ref["2048"]) <= TOL
    assert _close(mine["logits"], ref["logits"]) <= TOL


def test_official_vggish_checkpoint() -> None:
    state_dict = _torch_load(_checkpoint("AUDIOLLM_VGGISH_CHECKPOINT"))
    tv, vggish_input = _torchvggish()
    ours = build_vggish().load_official(state_dict)
    reference = tv.torchvggish._vgg(postprocess=False)
    reference.load_state_dict(state_dict)
    reference.embeddings = torch.nn.Sequential(*list(reference.embeddings.children())[:-1])
    examples = vggish_input.waveform_to_examples(_audio(2.0, 16000, 4), 16000)
    with torch.inference_mode():
        assert _close(ours(examples), reference.eval()(examples)) <= TOL
