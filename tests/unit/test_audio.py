"""load_audio / decode_audio_bytes on real files written with soundfile in tmp_path."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pytest_audiollm.audio import decode_audio_bytes, load_audio
from pytest_audiollm.errors import SampleError
from pytest_audiollm.sample import AudioRef
from pytest_audiollm.testing import sine


def _write(path: Path, data: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_stereo_44k_becomes_mono_16k(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.wav", sine(440, 1.5, 44100, channels=2), 44100)
    audio = load_audio(AudioRef(str(path)), 16000)
    assert audio.samples.ndim == 1
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape[0] == 24000
    assert (audio.sample_rate, audio.original_sample_rate, audio.channels) == (16000, 44100, 2)
    assert audio.duration_s == pytest.approx(1.5)
    assert audio.truncated_s == 0.0
    assert audio.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_mixdown_averages_channels(tmp_path: Path) -> None:
    left = np.full(1600, 0.5, dtype=np.float32)
    path = _write(tmp_path / "lr.wav", np.stack([left, -left * 0.5], axis=1), 16000, subtype="FLOAT")
    audio = load_audio(AudioRef(str(path)), 16000)
    np.testing.assert_allclose(audio.samples, 0.125, atol=1e-6)


def test_resampling_preserves_frequency(tmp_path: Path) -> None:
    path = _write(tmp_path / "sine.flac", sine(1000, 1.0, 48000), 48000)
    audio = load_audio(AudioRef(str(path)), 16000)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * audio.sample_rate / audio.samples.shape[0]
    assert peak_hz == pytest.approx(1000, abs=2)


def test_max_seconds_truncates_and_records_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "long.wav", sine(300, 3.0, 22050), 22050)
    audio = load_audio(AudioRef(str(path)), 16000, max_seconds=1.0)
    assert audio.samples.shape[0] == 16000
    assert audio.truncated_s == pytest.approx(2.0)
    assert audio.duration_s == pytest.approx(3.0)
    short = load_audio(AudioRef(str(path)), 16000, max_seconds=5.0)
    assert short.truncated_s == 0.0
    assert short.samples.shape[0] == 48000


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SampleError, match=r"audio file not found: .*nope\.wav \(paths in a manifest are relative"):
        load_audio(AudioRef(str(tmp_path / "nope.wav")), 16000)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"this is not audio at all" * 20)
    with pytest.raises(SampleError, match=r"garbage\.wav: cannot decode audio \(.*Format not recognised"):
        load_audio(AudioRef(str(path)), 16000)


def test_truncated_header(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.flac", sine(440, 1.0, 16000), 16000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[:30])
    with pytest.raises(SampleError, match=r"cut\.flac: cannot decode audio"):
        load_audio(AudioRef(str(cut)), 16000)


def test_truncated_wav_data(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.wav", sine(440, 1.0, 16000), 16000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:10000])
    with pytest.raises(SampleError, match=r"cut\.wav: audio file is truncated"):
        load_audio(AudioRef(str(cut)), 16000)


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(SampleError, match=r"empty\.wav: audio file is empty"):
        load_audio(AudioRef(str(path)), 16000)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(SampleError, match=r"zero\.wav: cannot decode audio"):
        load_audio(AudioRef(str(path)), 16000)


def test_nan_samples(tmp_path: Path) -> None:
    path = _write(tmp_path / "nan.wav", np.full(800, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SampleError, match=r"nan\.wav: .*contains NaN/inf samples"):
        load_audio(AudioRef(str(path)), 16000)


def test_inf_sample(tmp_path: Path) -> None:
    data = sine(440, 0.1, 16000)
    data[10] = np.inf
    path = _write(tmp_path / "inf.wav", data, 16000, subtype="FLOAT")
    with pytest.raises(SampleError, match="contains NaN/inf samples"):
        load_audio(AudioRef(str(path)), 16000)


def test_decode_bytes_directly() -> None:
    buf = io.BytesIO()
    sf.write(buf, sine(440, 0.5, 8000), 8000, format="WAV")
    audio = decode_audio_bytes(buf.getvalue(), "mem.wav", 16000)
    assert audio.samples.shape[0] == 8000
    assert audio.original_sample_rate == 8000


def test_tar_member_and_missing_member(tmp_path: Path) -> None:
    wav = _write(tmp_path / "x.wav", sine(440, 0.25, 16000), 16000)
    shard = tmp_path / "shard.tar"
    with tarfile.open(shard, "w") as tar:
        tar.add(wav, arcname="k1.wav")
    audio = load_audio(AudioRef(str(shard), "k1.wav"), 16000)
    assert audio.samples.shape[0] == 4000
    assert audio.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    with pytest.raises(SampleError, match=r"tar member not found: k2\.wav in .*shard\.tar"):
        load_audio(AudioRef(str(shard), "k2.wav"), 16000)
    with pytest.raises(SampleError, match="webdataset shard not found"):
        load_audio(AudioRef(str(tmp_path / "gone.tar"), "k1.wav"), 16000)
