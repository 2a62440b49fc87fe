import dataclasses

import numpy as np
import pytest
import torch

from models.bundle import AvatarForcingModel
from models.motion.arkit import mouth_channel_indices
from models.stream import AvatarStream, Recording, animate, animate_many
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


def test_animate_many_equals_animating_each_alone(model: AvatarForcingModel) -> None:
    motion = np.random.default_rng(0).uniform(0, 0.5, (40, 58)).astype(np.float32)
    recordings = [
        Recording(_audio(1.6, 16000), 16000, _audio(1.6, 16000, 1), 16000, motion),
        Recording(_audio(0.9, 44100, 2), 44100),  # shorter, another rate, no user side
        Recording(_audio(1.3, 16000, 3), 16000, _audio(2.0, 8000, 4), 8000),
    ]
    seeds = [5, 6, 7]
    chunks: list[tuple[int, int]] = []
    together = animate_many(model, recordings, seeds=seeds, on_chunk=lambda d, t: chunks.append((d, t)))
    assert chunks[-1] == (4, 4)  # 1.6 s in 0.5-s chunks: progress per round
    for rec, seed, got in zip(recordings, seeds, together, strict=True):
        alone = animate(
            model,
            rec.avatar_audio,
            rec.avatar_rate,
            rec.user_audio,
            rec.user_rate,
            rec.user_motion,
            seed=seed,
        )
        assert got.shape == alone.shape
        assert np.allclose(got, alone, atol=1e-4)
    # at most two streams per generator pass: the same motion
    pairs = animate_many(model, recordings, seeds=seeds, max_batch=2)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(pairs, together, strict=True))
    with pytest.raises(ValueError, match="3 recordings but 2 seeds"):
        animate_many(model, recordings, seeds=[1, 2])


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


def test_start_at_rest_gives_the_first_block_a_quiet_history(model: AvatarForcingModel) -> None:
    config = dataclasses.replace(model.card.sampler, start_at_rest=True)
    s = AvatarStream(model, config, seed=0)
    cache = s.sampler.cache
    assert cache is not None and cache.context is not None and cache.context_cond is not None
    c, h = cache.context_frames, cache.history_frames
    assert cache.context.shape == (1, c, 58) and cache.context_cond.frames == h
    history = model.card.stats.denormalize(cache.context[0])  # (c, 58) ARKit units
    mouth = mouth_channel_indices()
    assert torch.allclose(history[:, mouth], torch.zeros(c, len(mouth)), atol=1e-5)  # closed, no smile
    rest = model.card.stats.denormalize(model.rest_reference(1))[0]
    others = [i for i in range(58) if i not in mouth]
    assert torch.allclose(history[:, others], rest[others].expand(c, -1), atol=1e-4)  # the rest pose
    # the first block continues that history: its output differs from a cold start's
    a = _audio(0.4, 16000)
    cold = animate(model, a, 16000, seed=3)
    rested = animate(model, a, 16000, sampler_config=config, seed=3)
    assert cold.shape == rested.shape and not np.allclose(cold[:4], rested[:4])
    # a reset starts at rest again, the same way
    s.reset()
    assert s.sampler.cache is not None and torch.equal(s.sampler.cache.context, cache.context)
