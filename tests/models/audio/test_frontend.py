import numpy as np
import pytest
import torch

from models.audio import AudioConditioner, AudioEncoder, AudioEncoderConfig, FrontEndConfig, to_16k

from .signals import with_pauses


def _conditioner() -> AudioConditioner:
    torch.manual_seed(0)
    return AudioConditioner(AudioEncoder().eval())


def _stereo_44k1_int16() -> np.ndarray:
    """3 s of speech-like audio at 44.1 kHz, int16 (N, 2) with slightly different channels."""
    x16, _ = with_pauses([("silence", 0.5), ("speech", 2.0), ("silence", 0.5)], peak=0.5)
    x = np.interp(np.arange(int(x16.size * 44100 / 16000)) * 16000 / 44100, np.arange(x16.size), x16)
    stereo = np.stack([x, 0.8 * x], axis=1)  # (N, 2)
    return (stereo * 32767).astype(np.int16)


def _push_all(cond: AudioConditioner, x: np.ndarray, rate: float, sizes: list[int]) -> torch.Tensor:
    out, i, k = [], 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        out.append(cond.push(x[i : i + n], rate))
        i, k = i + n, k + 1
    out.append(cond.finish())
    return torch.cat(out)


def test_live_stream_equals_file_and_frame_count() -> None:
    cond = _conditioner()
    x = _stereo_44k1_int16()
    offline = cond.encode_file(x, 44100)
    n16 = to_16k(x, 44100).shape[0]
    assert offline.shape == (-(-n16 // 640), 128) and offline.dtype == torch.float32
    live = _push_all(cond, x, 44100, [1, 37, 160, 641, 8000])
    assert cond.frames_emitted == offline.shape[0]
    torch.testing.assert_close(live, offline, atol=1e-5, rtol=0)
    cond.reset()
    torch.testing.assert_close(_push_all(cond, x, 44100, [4410]), offline, atol=1e-5, rtol=0)


def test_16k_mono_and_interleaved_layouts() -> None:
    cond = _conditioner()
    x = _stereo_44k1_int16()
    ref = cond.encode_file(x, 44100)
    torch.testing.assert_close(cond.encode_file(x.reshape(-1), 44100, channels=2), ref)
    mono16 = to_16k(x, 44100)
    torch.testing.assert_close(cond.encode_file(mono16, 16000), ref, atol=1e-5, rtol=0)


def test_encode_file_leaves_the_live_stream_alone() -> None:
    cond = _conditioner()
    x = _stereo_44k1_int16()
    reference = _push_all(cond, x, 44100, [3000])
    cond.reset()
    first = cond.push(x[:40000], 44100)
    cond.encode_file(x[:20000], 44100)
    rest = cond.push(x[40000:], 44100)
    torch.testing.assert_close(torch.cat([first, rest, cond.finish()]), reference, atol=1e-5, rtol=0)


def test_stream_rules() -> None:
    cond = _conditioner()
    x = _stereo_44k1_int16()
    cond.push(x[:1000], 44100)
    with pytest.raises(ValueError, match="reset"):
        cond.push(x[:1000], 48000)
    with pytest.raises(ValueError, match="channels"):
        cond.push(x[:1000, 0], 44100)  # mono after stereo
    with pytest.raises(ValueError, match="rate"):
        cond.push(x[:1000], 0)
    cond.reset()
    assert cond.push(x[:1000, 0], 48000).shape == (0, 128)
    assert cond.finish().shape[1] == 128


def test_encoder_must_match_front_end() -> None:
    with pytest.raises(ValueError, match="164"):
        AudioConditioner(AudioEncoder(AudioEncoderConfig(dim_in=100)))
    cfg = FrontEndConfig(n_mels=64)
    cond = AudioConditioner(AudioEncoder(AudioEncoderConfig(dim_in=cfg.feature_dim)), cfg)
    assert cond.encode_file(np.zeros(1000, np.float32), 16000).shape == (2, 128)
