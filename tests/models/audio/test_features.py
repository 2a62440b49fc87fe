import json

import numpy as np
import pytest

from models.audio.features import FrontEndConfig, StreamingFrontEnd, compute, mel_filterbank
from models.audio.resample import to_16k
from models.generator.config import ConfigError

from .signals import espeak, espeak_available, frame_rms, with_pauses

CFG = FrontEndConfig()
M = CFG.n_mels
SPF = CFG.samples_per_frame
LOOK = CFG.lookahead_samples
BACK = CFG.subframes_per_frame * CFG.hop_length + CFG.win_length - CFG.hop_length  # stacked span


def _talk() -> tuple[np.ndarray, np.ndarray]:
    """5.6 s: silence, speech, silence, speech, silence (16 kHz float32) and per-sample labels."""
    return with_pauses(
        [("silence", 1.0), ("speech", 2.0), ("silence", 1.0), ("speech", 1.0), ("silence", 0.6)]
    )


def _energy(feats: np.ndarray) -> np.ndarray:
    """(T, F) -> (T,) mean energy channel over the frame's sub-frames."""
    return feats.reshape(len(feats), CFG.subframes_per_frame, M + 1)[:, :, M].mean(axis=1)


def _spectral(feats: np.ndarray) -> np.ndarray:
    """(T, F) -> (T, S, M) spectral part."""
    return feats.reshape(len(feats), CFG.subframes_per_frame, M + 1)[:, :, :M]


def _labels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(speech frames, silent frames) as boolean (T,) masks from the audio each frame stacks."""
    rms = frame_rms(x, SPF, LOOK, BACK)
    return rms > 0.1 * rms.max(), rms < 1e-3


def _push_in_chunks(x: np.ndarray, sizes: list[int]) -> np.ndarray:
    front = StreamingFrontEnd()
    out, i, k = [], 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        out.append(front.push(x[i : i + n]))
        i, k = i + n, k + 1
    out.append(front.finish())
    return np.concatenate(out)


# -- configuration ------------------------------------------------------------------------------
def test_default_geometry() -> None:
    assert (CFG.samples_per_frame, CFG.subframes_per_frame, CFG.lookahead_subframes) == (640, 4, 4)
    assert CFG.feature_dim == 4 * (40 + 1) == 164
    assert CFG.latency_ms == 40.0
    assert CFG.feature_bounds == (-2.5, 1.0)


def test_config_round_trip_and_unknown_keys() -> None:
    data = json.loads(json.dumps(CFG.to_dict()))
    assert FrontEndConfig.from_dict(data) == CFG
    with pytest.raises(ConfigError, match=r"n_mel.*valid keys.*n_mels"):
        FrontEndConfig.from_dict({**data, "n_mel": 64})
    with pytest.raises(ConfigError, match="valid keys"):
        CFG.replace(look_ahead=3)
    assert CFG.replace(n_mels=64).feature_dim == 4 * 65


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"lookahead_ms": 25}, "whole number of hops"),
        ({"lookahead_ms": -10}, "lookahead"),
        ({"fps": 24}, "multiple of fps"),
        ({"hop_length": 300}, "divide"),
        ({"win_length": 1024}, "win_length"),
        ({"f_max": 9000.0}, "f_max"),
        ({"n_mels": 0}, "n_mels"),
        ({"db_per_unit": 0.0}, "db_per_unit"),
    ],
)
def test_invalid_config(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CFG.replace(**changes)


def test_empty_mel_band_is_an_error() -> None:
    with pytest.raises(ConfigError, match="cover no FFT bin"):
        mel_filterbank(128, 256, 16000, 0.0, 8000.0)


# -- framing and causality ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 639, 640, 641, 1280, 16000, 16001])
def test_file_length_gives_ceil_frames(n: int) -> None:
    x = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    feats = compute(x)
    assert feats.shape == (-(-n // 640), 164) and feats.dtype == np.float32


@pytest.mark.parametrize("sizes", [[1], [37], [160], [641], [8000], [1, 37, 160, 641, 8000], "random"])
def test_chunking_does_not_change_features(sizes: list[int] | str) -> None:
    x, _ = _talk()
    if sizes == [1]:
        x = x[: 16000 + 123]  # one push per sample is slow in Python: 1 s is enough
    if sizes == "random":
        sizes = [int(s) for s in np.random.default_rng(1).integers(1, 3000, 200)]
    np.testing.assert_array_equal(_push_in_chunks(x, sizes), compute(x))


def test_frames_are_emitted_as_soon_as_their_lookahead_arrives() -> None:
    x, _ = _talk()
    front = StreamingFrontEnd()
    pushed = 0
    for n in [100, 540, 639, 1, 1, 1000, 5000, 20]:
        front.push(x[pushed : pushed + n])
        pushed += n
        assert front.frames_emitted == max(0, (pushed - LOOK) // SPF)


def test_frame_t_sees_audio_up_to_its_end_plus_lookahead_and_no_further() -> None:
    x, _ = _talk()
    x = x[: 2 * 16000]
    base = compute(x)
    for cut in [12800, 13000 + 77]:
        y = x.copy()
        y[cut:] = np.random.default_rng(cut).uniform(-0.9, 0.9, y.size - cut)
        changed = np.flatnonzero(np.abs(compute(y) - base).max(axis=1) > 0)
        first_allowed = (cut - LOOK) // SPF  # frame t depends on samples < (t + 1) * 640 + lookahead
        assert changed.min() == first_allowed


# -- robustness ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["digital silence", "dc", "full-scale square", "clipped beyond 1", "white noise", "impulses", "tiny"],
)
def test_features_are_finite_and_bounded(name: str) -> None:
    n = 16000 * 2
    rng = np.random.default_rng(0)
    t = np.arange(n) / 16000
    x = {
        "digital silence": np.zeros(n),
        "dc": np.full(n, 0.5),
        "full-scale square": np.sign(np.sin(2 * np.pi * 220 * t)),
        "clipped beyond 1": 4.0 * np.sign(np.sin(2 * np.pi * 3000 * t)),
        "white noise": rng.uniform(-1, 1, n),
        "impulses": (np.arange(n) % 4000 == 0).astype(float),
        "tiny": 1e-30 * rng.standard_normal(n),
    }[name].astype(np.float32)
    feats = compute(x)
    lo, hi = CFG.feature_bounds
    assert np.isfinite(feats).all()
    assert feats.min() >= lo and feats.max() <= hi


def test_silence_has_distinctly_lower_energy_than_speech() -> None:
    x, _ = _talk()
    speech, silent = _labels(x)
    energy = _energy(compute(x))
    assert speech.sum() > 50 and silent.sum() > 40
    assert energy[speech].mean() > -0.4  # speech sits near its own level (0)
    assert energy[silent].max() < -1.5  # silence >= 30 dB below it
    assert energy[speech].mean() - energy[silent].mean() > 1.5


def test_stationary_noise_never_counts_as_speech() -> None:
    for level in (0.3, 0.01):  # -10 and -40 dBFS
        x = (level * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32)
        front = StreamingFrontEnd()
        feats = np.concatenate([front.push(x), front.finish()])
        assert front.normalizer.active_count == 0
        assert _energy(feats).max() < -CFG.gate_db / CFG.db_per_unit / 2


def test_gain_invariance_after_the_normaliser_settles() -> None:
    x, _ = _talk()
    speech, _ = _labels(x)
    speech[:25] = False  # first second: silence judged against the prior speech level
    quiet, loud = compute(0.1 * x), compute(3.0 * x)  # 29.5 dB apart, peaks 0.03 and 0.9
    np.testing.assert_allclose(quiet[speech], loud[speech], atol=0.02)
    e_quiet, e_loud = _energy(quiet), _energy(loud)
    assert np.abs(e_quiet[25:] - e_loud[25:]).max() < 0.05


def test_channel_colouring_is_mostly_removed() -> None:
    x, _ = _talk()
    speech, _ = _labels(x)
    speech[:40] = False
    tilted = np.convolve(x, [1.0, -0.9])[: x.size].astype(np.float32)  # strong high-shelf microphone
    diff = np.abs(_spectral(compute(x)) - _spectral(compute(tilted)))[speech]
    assert diff.mean() < 0.05  # < 1 dB, where the raw log-mel moves by up to ~20 dB per band


@pytest.mark.skipif(
    not espeak_available(), reason="Debian espeak-ng CLI not installed (apt-get install espeak-ng)"
)
def test_espeak_speech_vs_silence_at_22k05() -> None:
    pcm, rate = espeak("Hello there. This is a short test of the audio front end, with a few words.")
    voice = to_16k(pcm, rate)
    pad = np.zeros(16000, dtype=np.float32)
    x = np.concatenate([pad, voice, pad])
    x += (3e-4 * np.random.default_rng(0).standard_normal(x.size)).astype(np.float32)  # -70 dBFS floor
    speech, silent = _labels(x)
    energy = _energy(compute(x))
    assert speech.sum() > 30 and silent.sum() > 30
    assert energy[speech].mean() - energy[silent].mean() > 1.5
    assert energy[silent].max() < -1.0


# -- input checks --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("samples", "match"),
    [
        (np.zeros(10, np.int16), "float32"),
        (np.zeros((10, 2), np.float32), "mono"),
        (np.array([0.0, np.nan], np.float32), "NaN"),
        ([0.0], "numpy array"),
    ],
)
def test_bad_front_end_input(samples: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute(samples)  # type: ignore[arg-type]


def test_push_after_finish_needs_reset() -> None:
    x, _ = _talk()
    front = StreamingFrontEnd()
    first = np.concatenate([front.push(x[:5000]), front.finish()])
    with pytest.raises(RuntimeError, match="reset"):
        front.push(x[:10])
    with pytest.raises(RuntimeError, match="reset"):
        front.finish()
    front.reset()
    np.testing.assert_array_equal(np.concatenate([front.push(x[:5000]), front.finish()]), first)


@pytest.mark.parametrize("lookahead_ms", [0, 80])
def test_other_lookaheads_keep_frame_count_and_causality(lookahead_ms: int) -> None:
    cfg = CFG.replace(lookahead_ms=lookahead_ms)
    x, _ = _talk()
    x = x[:20000]
    feats = compute(x, cfg)
    assert feats.shape == (cfg.num_frames(x.size), cfg.feature_dim)
    y = x.copy()
    y[12800:] = 0.5
    changed = np.flatnonzero(np.abs(compute(y, cfg) - feats).max(axis=1) > 0)
    assert changed.min() == (12800 - cfg.lookahead_samples) // SPF
