"""Training windows: uniform draws, and windows placed on rare events (`Focus`)."""

from __future__ import annotations

import numpy as np
import pytest

from models.motion.arkit import ARKIT_DIM, INDEX
from models.motion.stats import MotionStats
from models.training.data import Example, Focus, WindowSampler, rise_frames, smile_onset_focus


def _example(name: str, frames: int, smile_at: list[int]) -> Example:
    user = np.zeros((frames, ARKIT_DIM), np.float32)
    for f in smile_at:
        user[f : f + 30, INDEX["MouthSmileLeft"]] = 0.6
        user[f : f + 30, INDEX["MouthSmileRight"]] = 0.5
    avatar = np.zeros((frames, ARKIT_DIM), np.float32)
    avatar[:, 0] = np.arange(frames)  # channel 0 = the frame index, to read windows back
    feats = np.zeros((frames, 4), np.float32)
    return Example(name, feats, feats, avatar, user, np.zeros(ARKIT_DIM, np.float32))


def test_rise_frames_finds_upward_crossings_only() -> None:
    x = np.array([0.0, 0.1, 0.2, 0.3, 0.1, 0.0, 0.2, 0.2, 0.05])
    assert rise_frames(x, 0.15).tolist() == [2, 6]
    assert rise_frames(np.full(5, 0.5), 0.15).tolist() == []  # already up: no onset


def test_smile_onset_focus_reads_the_users_smile() -> None:
    examples = [_example("a", 400, [100, 250]), _example("b", 300, [])]
    focus = smile_onset_focus(examples, 0.5)
    assert [f.tolist() for f in focus.frames] == [[100, 250], []]
    assert focus.share == 0.5


def _window_starts(sampler: WindowSampler, seed: int = 0, batches: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stats = sampler.stats
    starts = []
    for _ in range(batches):
        batch = sampler.sample(8, rng)
        first = stats.denormalize(batch.avatar_motion[:, 0]).numpy()[:, 0]  # (B,) frame index
        starts.extend(np.round(first).astype(int).tolist())
    return np.array(starts)


def test_a_focus_places_its_share_of_windows_just_before_the_events() -> None:
    examples = [_example("a", 1000, [300]), _example("b", 1000, [])]
    stats = MotionStats.identity(ARKIT_DIM)
    window = 50
    plain = _window_starts(WindowSampler(examples, stats, window, 10))
    focused = _window_starts(WindowSampler(examples, stats, window, 10, smile_onset_focus(examples, 0.5)))
    near = lambda s: ((s >= 300 - 20) & (s <= 300 - 4)).mean()  # noqa: E731 - a windows' share
    assert near(plain) < 0.1  # uniform draws seldom land there (17 of ~950 starts)
    assert 0.4 < near(focused) < 0.65  # half of them on purpose, a few more by chance


def test_without_a_focus_the_draws_are_unchanged() -> None:
    """Runs made before `Focus` existed reproduce with the same seed: one choice of examples for
    the batch, then one start per window."""
    examples = [_example("a", 400, [100]), _example("b", 300, [])]
    stats = MotionStats.identity(ARKIT_DIM)
    sampler = WindowSampler(examples, stats, 50, 10)
    rng = np.random.default_rng(7)
    picks = rng.choice(2, size=8, p=sampler.weights)
    want = [int(rng.integers(0, examples[int(i)].frames - 50 + 1)) for i in picks]
    assert _window_starts(sampler, seed=7, batches=1).tolist() == want
    assert _window_starts(WindowSampler(examples, stats, 50, 10, Focus([[], []], 0.0)), 7, 1).tolist() == want


def test_bad_focus_is_refused() -> None:
    examples = [_example("a", 400, [100])]
    stats = MotionStats.identity(ARKIT_DIM)
    with pytest.raises(ValueError, match="no example"):
        WindowSampler(examples, stats, 50, 10, Focus([np.array([], np.int64)], 0.5))
    with pytest.raises(ValueError, match="examples"):
        WindowSampler(examples, stats, 50, 10, Focus([np.array([1]), np.array([2])], 0.5))
    with pytest.raises(ValueError, match="share"):
        WindowSampler(examples, stats, 50, 10, Focus([np.array([100])], 1.5))
