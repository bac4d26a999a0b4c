"""The generation front end: presets, file checks, the torchaudio-style resampler, the paired-metric spectrograms.

The spectrograms are compared with the code they reproduce: audioldm-eval 0.0.3's TacotronSTFT (loaded by file
path: its package imports torchaudio), librosa's mel filterbank and STFT, scikit-image's PSNR/SSIM.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from pytest_audiollm.errors import SampleError, SpecError
from pytest_audiollm.features.frontend import PRESETS, read_clip, sinc_hann_resample
from pytest_audiollm.features.spectra import lsd_spectrogram, mel_filterbank, tacotron_mel


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _tacotron_reference() -> ModuleType:
    found = importlib.util.find_spec("audioldm_eval")  # locating it does not run its __init__ (torchaudio)
    if found is None or not found.submodule_search_locations:
        raise ImportError("audioldm-eval is not installed")
    root = Path(next(iter(found.submodule_search_locations))) / "audio"
    loaded: dict[str, ModuleType] = {}
    try:
        for name in ("audio_processing", "stft"):
            spec = importlib.util.spec_from_file_location(f"audioldm_eval.audio.{name}", root / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # stft.py imports audio_processing by its package name
            spec.loader.exec_module(module)
            loaded[name] = module
    finally:  # only our two names: dropping modules imported meanwhile (numpy.fft) would break C extensions
        for name in ("audio_processing", "stft"):
            sys.modules.pop(f"audioldm_eval.audio.{name}", None)
    import librosa

    # audioldm-eval 0.0.3 calls librosa < 0.10 positionally; the same functions, with today's keywords
    stft = loaded["stft"]
    stft.pad_center = lambda data, size, **kw: librosa.util.pad_center(data, size=size, **kw)  # type: ignore[attr-defined]
    stft.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(  # type: ignore[attr-defined]
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    return stft


@pytest.mark.parametrize("rate", [16000, 32000])
def test_tacotron_mel_equals_audioldm_eval(rate: int) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("librosa")
    try:
        stft_module = _tacotron_reference()
    except ImportError as exc:  # pragma: no cover - audioldm-eval is in the dev extras
        pytest.skip(f"audioldm-eval 0.0.3 not importable: {exc}")
    params = (512, 160, 512, 64, 16000, 50, 8000) if rate == 16000 else (1024, 320, 1024, 64, 32000, 50, 14000)
    stft = stft_module.TacotronSTFT(*params)
    x = _noise(rate + 123)
    x[:50] = 1.5  # clipping happens first
    mel, _ = stft.mel_spectrogram(torch.clip(torch.FloatTensor(x).unsqueeze(0), -1, 1), normalize_fun=torch.log10)
    reference = torch.clip((mel * 20 - 20 + 100) / 100, min=0, max=1.0)[0].numpy()  # load_mel.get_mel_from_wav
    ours = tacotron_mel(x, rate)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-5  # float32 reference


def test_mel_filterbank_and_lsd_stft_equal_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    for args in ((16000, 512, 64, 50.0, 8000.0), (32000, 1024, 64, 50.0, 14000.0)):
        ref = librosa.filters.mel(sr=args[0], n_fft=args[1], n_mels=args[2], fmin=args[3], fmax=args[4])
        assert np.abs(mel_filterbank(*args) - ref).max() < 1e-7
    x = _noise(16000).astype(np.float64)
    ref_stft = np.abs(librosa.stft(x, n_fft=743, hop_length=160))  # ssr_eval's sizes at 16 kHz
    assert np.abs(lsd_spectrogram(x, 16000) - ref_stft).max() < 1e-9 * ref_stft.max()


def test_paired_scores_equal_skimage_on_the_mels() -> None:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    from pytest_audiollm.features.frontend import Clip, FileFeatures
    from pytest_audiollm.metrics.generation.catalog import Lsd, Psnr, Ssim
    from pytest_audiollm.metrics.generation.protocol import NotScorable, ScoredFile

    preset = PRESETS["clean"]
    ref_wave, gen_wave = _noise(20000, 1), _noise(18000, 2) * 0.5 + _noise(18000, 1)[:18000]
    ref = Clip("a", "ref.wav", "0", 16000, 1, ref_wave, preset)
    gen = Clip("a", "gen.wav", "1", 16000, 1, gen_wave.astype(np.float32), preset)
    features = FileFeatures("a", "gen.wav", "1", 1.0)
    pair = ScoredFile(clip=gen, features=features, rate=16000, reference=ref)
    scores = {metric.name: metric.file_score(pair) for metric in (Psnr(), Ssim(), Lsd())}
    mel_g, mel_r = tacotron_mel(gen.wave, 16000), tacotron_mel(ref.wave, 16000)
    frames = min(mel_g.shape[1], mel_r.shape[1])
    mel_g, mel_r = mel_g[:, :frames].astype(np.float32), mel_r[:, :frames].astype(np.float32)
    assert scores["psnr"] == pytest.approx(skimage_metrics.peak_signal_noise_ratio(mel_g, mel_r), rel=1e-5)
    data_range = max(mel_g.max(), mel_r.max()) - min(mel_g.min(), mel_r.min())
    expected_ssim = skimage_metrics.structural_similarity(mel_g, mel_r, data_range=data_range)
    assert scores["ssim"] == pytest.approx(expected_ssim, rel=1e-4)
    assert scores["lsd"] > 0
    same = ScoredFile(clip=ref, features=features, rate=16000, reference=ref)
    with pytest.raises(NotScorable, match="infinite"):
        Psnr().file_score(same)
    assert Lsd().file_score(same) == pytest.approx(0, abs=1e-6)
    assert "mels" in same.cache  # PSNR and SSIM of one file share its mels


def _audioldm_eval_psnr_ssim() -> Callable[[list[Any]], dict[str, float]]:
    """audioldm_eval 0.0.3's own ``EvaluationHelper.calculate_psnr_ssim``, its source compiled on its own: eval.py
    imports torchaudio and ssr_eval at the top, so the method is taken out of the file with ``ast``."""
    skimage_metrics = pytest.importorskip("skimage.metrics")
    found = importlib.util.find_spec("audioldm_eval")
    if found is None or not found.submodule_search_locations:
        pytest.skip("audioldm-eval==0.0.3 not installed")
    path = Path(next(iter(found.submodule_search_locations))) / "eval.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (helper,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "EvaluationHelper"]
    (method,) = [n for n in helper.body if isinstance(n, ast.FunctionDef) and n.name == "calculate_psnr_ssim"]
    namespace: dict[str, Any] = {"np": np, "tqdm": lambda it: it, "print": lambda *a: None,
                                 "psnr": skimage_metrics.peak_signal_noise_ratio,
                                 "ssim": skimage_metrics.structural_similarity}  # fmt: skip
    exec(compile(ast.Module(body=[method], type_ignores=[]), str(path), "exec"), namespace)
    function = namespace["calculate_psnr_ssim"]
    return lambda loader: dict(function(None, loader))


class _Batch:
    """What audioldm_eval's paired loader yields per item: a tensor of batch 1 (``.cpu().numpy()[0]``)."""

    def __init__(self, mel: np.ndarray) -> None:
        self.mel = mel

    def cpu(self) -> _Batch:
        return self

    def numpy(self) -> np.ndarray:
        return self.mel[None]


def test_an_identical_pair_leaves_psnr_and_ssim_like_audioldm_eval() -> None:
    """3 pairs, one identical: the audioldm_eval-0.0.3 preset's PSNR and SSIM means equal audioldm_eval's (both
    leave the identical pair out); clean counts its SSIM as 1.0."""
    reference = _audioldm_eval_psnr_ssim()
    from pytest_audiollm.features.frontend import Clip, FileFeatures
    from pytest_audiollm.metrics.generation.catalog import Psnr, Ssim
    from pytest_audiollm.metrics.generation.protocol import NotScorable, ScoredFile

    refs = [_noise(16000, seed) for seed in (1, 2, 3)]
    gens = [refs[0], _noise(16000, 4) * 0.5 + refs[1] * 0.5, refs[2] * 0.7 + _noise(16000, 5) * 0.1]
    for preset_name in ("audioldm_eval-0.0.3", "clean"):
        preset = PRESETS[preset_name]
        ours: dict[str, list[float]] = {"psnr": [], "ssim": []}
        loader = []
        for i, (gen_wave, ref_wave) in enumerate(zip(gens, refs, strict=True)):
            ref = Clip(f"{i}", "ref.wav", "0", 16000, 1, ref_wave, preset)
            gen = Clip(f"{i}", "gen.wav", "1", 16000, 1, gen_wave.astype(np.float32), preset)
            pair = ScoredFile(clip=gen, features=FileFeatures(f"{i}", "gen.wav", "1", 1.0), rate=16000, reference=ref)
            for metric in (Psnr(), Ssim()):
                with contextlib.suppress(NotScorable):
                    ours[metric.name].append(metric.file_score(pair))
            mel_g, mel_r = pair.cache["mels"]
            loader.append((_Batch(mel_g), _Batch(mel_r), f"{i}.wav", None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # skimage's log10(1/0) for the identical pair
            expected = reference(loader)
        assert float(np.mean(ours["psnr"])) == pytest.approx(expected["psnr"], rel=1e-12)
        assert len(ours["psnr"]) == 2
        if preset_name == "audioldm_eval-0.0.3":
            assert len(ours["ssim"]) == 2
            assert float(np.mean(ours["ssim"])) == pytest.approx(expected["ssim"], rel=1e-9)
        else:
            assert len(ours["ssim"]) == 3 and ours["ssim"][0] == 1.0
            assert float(np.mean(ours["ssim"])) == pytest.approx((1.0 + 2 * expected["ssim"]) / 3, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alone = reference(loader[:1])  # every pair identical: audioldm_eval returns NaN (np.mean of nothing)
    assert math.isnan(alone["psnr"]) and math.isnan(alone["ssim"])


def test_sinc_hann_resampler_length_and_passband() -> None:
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = sinc_hann_resample(tone, 44100, 16000)
    assert out.shape == (math.ceil(16000 * tone.size / 44100),) and out.dtype == np.float32
    expected = np.sin(2 * np.pi * 1000 * np.arange(out.size) / 16000)
    assert np.abs(out - expected)[200:-200].max() < 2e-3  # passband kept, edges zero-padded
    alias = np.sin(2 * np.pi * 12000 * t).astype(np.float32)  # above the new Nyquist: filtered out
    assert np.abs(sinc_hann_resample(alias, 44100, 16000))[200:-200].max() < 1e-2
    up = sinc_hann_resample(out, 16000, 32000)
    assert up.shape == (2 * out.size,)


def test_presets_read_channels_dc_and_reject_bad_files(tmp_path: Path) -> None:
    stereo = np.stack([_noise(8000, 1) + 0.2, _noise(8000, 2)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="FLOAT")
    compat = read_clip(tmp_path / "s.wav", "s.wav", PRESETS["audioldm_eval-0.0.3"])
    assert np.allclose(compat.wave, stereo[:, 0] - stereo[:, 0].mean(), atol=1e-6)
    clean = read_clip(tmp_path / "s.wav", "s", PRESETS["clean"])
    assert np.allclose(clean.wave, stereo.mean(axis=1), atol=1e-6)
    assert PRESETS["audioldm_eval-0.0.3"].pad(compat.wave, 16000).shape == (32000,)
    assert PRESETS["clean"].pad(clean.wave, 16000).shape == (16000,)
    assert (
        PRESETS["clean"].pair_key("sub/dog.flac") == "sub/dog"
        and PRESETS["audioldm_eval-0.0.3"].pair_key("sub/dog.flac") == "dog.flac"
    )
    sf.write(tmp_path / "quiet.wav", np.full(800, 1e-8, np.float32), 16000, subtype="FLOAT")
    (tmp_path / "empty.wav").write_bytes(b"")
    for name, expected in (("quiet.wav", "silent"), ("empty.wav", "empty"), ("missing.wav", "cannot read")):
        with pytest.raises(SampleError, match=expected):
            read_clip(tmp_path / name, name, PRESETS["clean"])


def test_generation_yaml_errors_name_the_key(tmp_path: Path) -> None:
    from pytest_audiollm.benchmarks.spec import parse_spec
    from pytest_audiollm.builtins import builtin_registries

    metrics, KINDS = builtin_registries()

    base = {"name": "g", "task": "generation", "data": {"generated": "a", "reference": "b"}, "metrics": ["fd"]}
    spec = parse_spec(base, source="x.yaml", base_dir=tmp_path, kinds=KINDS)
    assert spec.settings.folder_mode and spec.settings.preset == "clean" and spec.kind == "generation"
    text_metric = parse_spec({**base, "metrics": ["accuracy"]}, source="x.yaml", base_dir=tmp_path, kinds=KINDS)
    with pytest.raises(SpecError, match="'accuracy' is not a generation metric"):  # checked with the registry
        KINDS.get("generation").check_metrics(text_metric, metrics)
    ci_gate = parse_spec({**base, "thresholds": {"fd": "ci_high <= 3"}}, source="x.yaml", base_dir=tmp_path,
                         kinds=KINDS)  # fmt: skip
    with pytest.raises(SpecError, match=r"key 'thresholds.fd': a gate on ci_high of fd needs a confidence interval"):
        KINDS.get("generation").check_metrics(ci_gate, metrics)
    cases = [
        ({"generation": {"preset": "audioldm"}}, "generation.preset"),
        ({"generation": {"sample_rate": 44100}}, "16000 and 32000"),
        ({"generation": {"kid_subsets": 0}}, "generation.kid_subsets"),
        ({"generation": {"wat": 1}}, "generation.wat"),
        ({"data": {"generated": "a"}}, "data.reference"),
        ({"data": {"generated": "a", "reference": "b", "extra": 1}}, "data.extra"),
    ]
    for change, expected in cases:
        with pytest.raises(SpecError, match=expected):
            parse_spec({**base, **change}, source="x.yaml", base_dir=tmp_path, kinds=KINDS)
    with pytest.raises(SpecError, match="only read by benchmarks of task generation"):
        parse_spec({**base, "task": "asr", "metrics": ["wer"], "data": {"format": "jsonl", "path": "m.jsonl"},
                    "generation": {}}, source="x.yaml", base_dir=tmp_path, kinds=KINDS)  # fmt: skip
