import numpy as np
import pytest

from models.bundle import AvatarForcingModel
from models.stream import AvatarStream, animate
from tests.helpers import small_random_model


@pytest.fixture(scope="module")
def model() -> AvatarForcingModel:
    return small_random_model()


def _audio(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * rate)).astype(np.float32)


def test_animate_length_any_rate_and_channels(model: AvatarForcingModel) -> None:
    out = animate(model, _audio(1.0, 44100), 44100)
    assert out.shape == (25, 58)
    stereo = np.stack([_audio(0.5, 8000), _audio(0.5, 8000, 1)], axis=1)
    out = animate(model, stereo, 8000, user_audio=_audio(2.0, 22050), user_rate=22050)
    assert out.shape == (13, 58)
    assert np.isfinite(out).all()
    assert (out[:, :52] >= 0).all() and (out[:, :52] <= 1).all()


def test_animate_is_seeded(model: AvatarForcingModel) -> None:
    a = _audio(0.8, 16000)
    assert np.array_equal(animate(model, a, 16000, seed=1), animate(model, a, 16000, seed=1))
    assert not np.array_equal(animate(model, a, 16000, seed=1), animate(model, a, 16000, seed=2))


def test_chunking_does_not_change_the_result(model: AvatarForcingModel) -> None:
    a, u = _audio(1.2, 16000), _audio(1.2, 16000, 3)
    motion = np.random.default_rng(0).uniform(0, 0.5, (30, 58)).astype(np.float32)
    x = animate(model, a, 16000, u, 16000, motion, seed=4, chunk_seconds=0.05)
    y = animate(model, a, 16000, u, 16000, motion, seed=4, chunk_seconds=0.7)
    assert np.allclose(x, y, atol=1e-4)


def test_stream_waits_for_all_three_inputs(model: AvatarForcingModel) -> None:
    s = AvatarStream(model, seed=0)
    s.push_avatar_audio(_audio(0.5, 16000), 16000)
    assert s.available_frames() == 0 and s.step() is None  # no user side yet
    s.push_user_audio(_audio(0.5, 16000), 16000)
    s.push_user_motion(np.zeros((5, 58), np.float32))
    assert s.available_frames() == 5
    block = s.step()
    assert block is not None and block.shape == (4, 58)
    assert s.step() is None  # 1 frame left: not a whole block
    assert s.step(allow_partial=True).shape == (1, 58)  # type: ignore[union-attr]
    s.fill_silence(20)  # the clock moved on: silence and a held user face fill the gap
    assert s.available_frames() == 20 - 5
    assert s.generate_available().shape == (12, 58)
    s.fill_silence(20)  # idempotent: the same all-time target adds nothing
    assert s.available_frames() == 3


def test_bad_user_motion_is_refused(model: AvatarForcingModel) -> None:
    s = AvatarStream(model)
    with pytest.raises(ValueError, match="58"):
        s.push_user_motion(np.zeros((3, 52)))
    with pytest.raises(ValueError, match="NaN"):
        s.push_user_motion(np.full((3, 58), np.nan))
    assert s.available_frames() == 0
