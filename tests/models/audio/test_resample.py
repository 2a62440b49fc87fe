import math

import numpy as np
import pytest

from models.audio.resample import StreamingResampler, to_16k, to_mono_float32

CHUNKS = [1, 37, 160, 641, 8000]


def _noise(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    x = 0.1 * np.random.default_rng(seed).standard_normal((n, channels))
    return x.astype(np.float32)


def _stream(resampler: StreamingResampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i, k = [], 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        out.append(resampler.push(x[i : i + n]))
        i, k = i + n, k + 1
    out.append(resampler.flush())
    return np.concatenate(out)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 11025.0])
def test_offline_length_and_dtype(rate: float) -> None:
    n = int(rate * 0.7)
    y = to_16k(_noise(n)[:, 0], rate)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.shape[0] - n * 16000 / rate) <= 1


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_streaming_equals_offline(rate: int) -> None:
    x = _noise(int(rate * 1.5), channels=2)  # (N, 2)
    offline = to_16k(x, rate)
    streamed = _stream(StreamingResampler(rate), x, CHUNKS)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-6, rtol=0)


def test_interleaved_int16_stereo_stream_equals_offline() -> None:
    x = (_noise(44100, channels=2) * 32767).astype(np.int16).reshape(-1)  # L R L R ...
    offline = to_16k(x, 44100, channels=2)
    streamed = _stream(StreamingResampler(44100, channels=2), x, [2, 74, 1282, 16000])
    np.testing.assert_allclose(streamed, offline, atol=1e-6, rtol=0)


def test_sine_frequency_and_level_survive_44k1_stereo_int16() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    stereo = (np.stack([tone, tone], axis=1) * 32767).astype(np.int16)  # (N, 2)
    y = to_16k(stereo, rate)[2000:14000]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak_hz = np.argmax(spectrum) * 16000 / y.size
    assert abs(peak_hz - 1000.0) < 3.0
    assert math.isclose(np.sqrt(2) * y.std(), 0.5, rel_tol=0.01)


def test_layouts_agree() -> None:
    x = _noise(4000, channels=2)  # (N, 2)
    by_frames = to_mono_float32(x)
    interleaved = to_mono_float32(x.reshape(-1), channels=2)
    np.testing.assert_array_equal(by_frames, interleaved)
    np.testing.assert_allclose(by_frames, x.mean(axis=1), atol=1e-7)
    as_int16 = to_mono_float32((x * 32768).round().clip(-32768, 32767).astype(np.int16))
    np.testing.assert_allclose(as_int16, by_frames, atol=2 / 32768)
    same = np.repeat(x[:, :1], 2, axis=1)  # identical channels == mono
    np.testing.assert_allclose(to_16k(same, 48000), to_16k(x[:, 0], 48000), atol=1e-6)


def test_16k_passes_through() -> None:
    x = _noise(1000)[:, 0]
    np.testing.assert_array_equal(to_16k(x, 16000), x)
    pcm = np.array([0, 16384, -32768], dtype=np.int16)
    np.testing.assert_array_equal(to_16k(pcm, 16000), np.array([0.0, 0.5, -1.0], dtype=np.float32))
    resampler = StreamingResampler(16000)
    assert resampler.push(x[:10]).shape == (10,) and resampler.flush().shape == (0,)


@pytest.mark.parametrize("rate", [0, -8000, float("nan"), float("inf"), "16000", True, None])
def test_bad_rate(rate: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        to_16k(np.zeros(100, np.float32), rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("samples", "kwargs", "match"),
    [
        (np.zeros(10, np.int32), {}, "dtype"),
        (np.zeros(10, np.uint8), {}, "dtype"),
        (np.zeros(10, np.complex64), {}, "dtype"),
        (np.zeros((2, 2, 2), np.float32), {}, "shape"),
        (np.zeros((2, 16000), np.float32), {}, "channel-first"),
        (np.zeros(11, np.float32), {"channels": 2}, "multiple of channels"),
        (np.zeros((10, 2), np.float32), {"channels": 1}, "2 channels"),
        (np.zeros(10, np.float32), {"channels": 0}, "channels"),
        (np.array([0.0, np.nan], np.float32), {}, "NaN"),
        (np.array([0.0, np.inf]), {}, "NaN or infinite"),
        ([0.0, 0.1], {}, "numpy array"),
    ],
)
def test_bad_samples(samples: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        to_16k(samples, 44100, **kwargs)  # type: ignore[arg-type]


def test_bad_quality_and_channels() -> None:
    with pytest.raises(ValueError, match="quality"):
        StreamingResampler(44100, quality="best")
    with pytest.raises(ValueError, match="channels"):
        StreamingResampler(44100, channels=9)
    with pytest.raises(ValueError, match="channels=2"):
        to_mono_float32(np.zeros((10, 3), np.float32), channels=2)


def test_stream_rules_and_reset() -> None:
    x = _noise(8000, channels=2)
    resampler = StreamingResampler(48000)
    first = _stream(resampler, x, [500])
    with pytest.raises(RuntimeError, match="reset"):
        resampler.push(x)
    resampler.reset()
    resampler.push(x[:100])
    with pytest.raises(ValueError, match="channels"):
        resampler.push(_noise(100, channels=1))
    resampler.reset()
    np.testing.assert_array_equal(_stream(resampler, x, [777]), first)
