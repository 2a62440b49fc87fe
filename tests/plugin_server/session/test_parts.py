"""The session's building blocks: motion shaping, audio timeline, turns, outbox."""

import numpy as np
import pytest

from models.motion.arkit import ARKIT_DIM, INDEX
from plugin_server.protocol import (
    AvatarAudio,
    BlinkConfig,
    ErrorCode,
    Motion,
    ProtocolError,
    Stats,
    TurnEvent,
)
from plugin_server.session.outbox import Outbox
from plugin_server.session.postprocess import BLINK_CHANNELS, MotionShaper
from plugin_server.session.timeline import AudioTimeline
from plugin_server.session.turns import EnergyVad, TurnState

BL = list(BLINK_CHANNELS)


def _blinking(frames: int, every: int = 50) -> np.ndarray:
    """Neutral face (rest 0) with a 5-frame blink every `every` frames and some jaw motion."""
    x = np.zeros((frames, ARKIT_DIM), np.float32)
    x[:, INDEX["JawOpen"]] = 0.5
    x[:, INDEX["HeadYaw"]] = 10.0
    for s in range(10, frames, every):
        x[s : s + 5, BL] = [[0.6], [1.0], [1.0], [0.6], [0.1]]
    return x


def _blinks(x: np.ndarray) -> int:
    closed = x[:, BL].mean(axis=1) > 0.5
    return int(np.sum(closed[1:] & ~closed[:-1]) + closed[0])


def test_motion_intensity_scales_around_rest() -> None:
    rest = np.zeros(ARKIT_DIM, np.float32)
    rest[INDEX["JawOpen"]] = 0.1
    x = _blinking(100)
    shaper = MotionShaper(rest, 25, seed=0)
    still = shaper.apply(x, 0.0, BlinkConfig())
    assert np.allclose(np.delete(still, BL, axis=1), np.delete(np.broadcast_to(rest, x.shape), BL, axis=1))
    assert _blinks(still) == _blinks(x) == 2  # blinks keep their depth
    double = MotionShaper(rest, 25).apply(x, 2.0, BlinkConfig())
    assert double[0, INDEX["JawOpen"]] == pytest.approx(0.9) and double[0, INDEX["HeadYaw"]] == pytest.approx(
        20.0
    )
    assert double[:, :52].max() <= 1.0
    assert np.array_equal(MotionShaper(rest, 25).apply(x, 1.0, BlinkConfig()), x)


def test_blink_settings() -> None:
    rest = np.zeros(ARKIT_DIM, np.float32)
    x = _blinking(1000)  # 20 model blinks in 40 s
    off = MotionShaper(rest, 25).apply(x, 1.0, BlinkConfig(enabled=False))
    assert _blinks(off) == 0 and np.all(off[:, BL] == 0)
    none = np.concatenate(
        [
            MotionShaper(rest, 25, seed=1).apply(x[i : i + 4], 1.0, BlinkConfig(rate=0.0))
            for i in range(0, 1000, 4)
        ]
    )
    assert _blinks(none) == 0  # block boundaries do not matter
    half = MotionShaper(rest, 25, seed=1).apply(x, 1.0, BlinkConfig(rate=0.5))
    assert 3 <= _blinks(half) <= 17
    quiet = np.zeros((1500, ARKIT_DIM), np.float32)  # 60 s, no model blinks
    more = MotionShaper(rest, 25, seed=2).apply(quiet, 1.0, BlinkConfig(rate=3.0))
    assert 15 <= _blinks(more) <= 60  # (3 - 1) * 17 = 34 per minute expected


def test_timeline_places_audio_frame_by_frame() -> None:
    tl = AudioTimeline("avatar", 25, max_pending_s=1.0)
    assert tl.place_until(2).shape == (1280,)  # no format yet: silence at 16 kHz
    x = np.arange(1, 1 + 441 * 3, dtype=np.float32)[:, None] / 2000  # 30 ms at 44.1 kHz
    tl.push(x, "f32le", 44100, 1)
    assert tl.pending_s == pytest.approx(0.03)
    tl.place_until(4)  # frames 2, 3: 1764 samples each, 1323 available
    assert tl.pending_s == 0
    block = tl.take_block(0, 4)
    assert block.shape == (4 * 1764, 1)  # silence placed before the format was known: emitted in it
    assert np.all(block[:3528] == 0)
    assert np.array_equal(block[3528 : 3528 + 1323], x)  # audio exactly where it was placed
    assert np.all(block[3528 + 1323 :] == 0)  # the rest of frame 3 is silence
    with pytest.raises(ProtocolError) as e:
        tl.push(x, "s16le", 44100, 1)
    assert e.value.code == ErrorCode.FORMAT_CHANGED
    with pytest.raises(ProtocolError) as e:
        tl.push(np.zeros((44100 * 2, 1), np.float32), "f32le", 44100, 1)
    assert e.value.code == ErrorCode.BUFFER_FULL and tl.dropped_s == pytest.approx(2.0)


def test_timeline_hands_back_the_16k_audio_of_a_block() -> None:
    tl = AudioTimeline("user", 25, max_pending_s=1.0)
    x = np.full((2400, 2), 0.25, np.float32)  # 50 ms stereo at 48 kHz
    tl.push(x, "f32le", 48000, 2)
    fed = tl.place_until(4)
    block, x16 = tl.take_block_with_16k(0, 4)
    assert block.shape == (4 * 1920, 2) and np.array_equal(x16, fed)  # what the front end heard
    assert 0 < len(x16) <= 4 * 640 and abs(float(np.median(x16[400:700])) - 0.25) < 0.01
    block, x16 = tl.take_block_with_16k(4, 2)  # never placed: silence at both rates
    assert block.shape == (2 * 1920, 2) and x16.shape == (1280,) and not x16.any() and not block.any()


def test_timeline_interrupt_and_skip() -> None:
    tl = AudioTimeline("avatar", 25, max_pending_s=10.0)
    tl.push(np.ones((16000, 1), np.float32) * 0.5, "s16le", 16000, 1)  # 1 s
    tl.place_until(6)
    assert np.all(tl.take_block(0, 4) == 0.5)
    tl.skip_to(10)  # frames 4, 5 were placed but never emitted: back to the queue
    assert tl.pending_s == pytest.approx(1.0 - 0.16)
    tl.place_until(12)
    assert np.all(tl.take_block(10, 1) == 0.5)
    dropped = tl.interrupt()
    assert dropped == pytest.approx(1.0 - 0.16 - 0.04)
    assert np.all(tl.take_block(11, 1) == 0) and np.all(tl.replay_16k() == 0)
    tl.push(np.ones((1600, 1), np.float32), "s16le", 16000, 1)  # muted: dropped
    assert tl.pending_s == 0 and tl.dropped_s == pytest.approx(dropped + 0.1)
    tl.unmute()
    tl.push(np.ones((1600, 1), np.float32), "s16le", 16000, 1)
    assert tl.pending_s == pytest.approx(0.1)


def test_live_timeline_drops_oldest() -> None:
    tl = AudioTimeline("user", 25, max_pending_s=0.5, overflow="drop_oldest")
    for i in range(10):
        tl.push(np.full((1600, 1), i, np.float32), "s16le", 16000, 1)
    assert tl.pending_s == pytest.approx(0.5) and tl.dropped_s == pytest.approx(0.5)
    tl.place_until(1)
    assert np.all(tl.take_block(0, 1) == 5)  # the newest half second is kept


def test_turn_state_and_vad() -> None:
    t = TurnState()
    assert t.state == "idle" and t.set_user(True) == "user_started" and t.set_user(True) is None
    assert t.set_avatar(True) == "avatar_started" and t.state == "both"
    assert t.set_user(False) == "user_stopped" and t.state == "avatar_speaking"
    vad = EnergyVad(threshold_db=-40, hangover_s=0.3)
    loud, quiet = np.full(640, 0.1, np.float32), np.zeros(640, np.float32)
    assert vad.update(quiet, 0.16) is None
    assert vad.update(loud, 0.16) is True
    assert vad.update(quiet, 0.16) is None  # a pause between words
    assert vad.update(loud, 0.16) is None
    assert vad.update(quiet, 0.16) is None and vad.update(quiet, 0.16) is False


def _motion(frame: int, n: int = 4) -> Motion:
    return Motion(
        frame=frame,
        fps=25,
        timestamps=[(frame + i) / 25 for i in range(n)],
        naming="arkit",
        names=["JawOpen"],
        values=[[0.0]] * n,
    )


def _audio(frame: int, n: int = 4) -> AvatarAudio:
    return AvatarAudio(frame=frame, frames=n, t=frame / 25, format="s16le", rate=16000, channels=1, data=b"")


def test_outbox_drops_the_oldest_blocks_together() -> None:
    box = Outbox(max_frames=8, max_messages=2)
    event = TurnEvent(event="user_started", state="user_speaking", source="server", frame=0, t=0.0)
    for k in range(5):
        box.put([_motion(4 * k), _audio(4 * k)])
    box.put([event])
    assert (
        box.pending_frames == 8
        and box.dropped_frames == 12
        and box.dropped == {"motion": 12, "audio": 12, "frames": 0}
    )
    got = box.drain()
    assert [m.frame for m in got if isinstance(m, Motion)] == [12, 16]
    assert [m.frame for m in got if isinstance(m, AvatarAudio)] == [12, 16] and got[-1] is event
    stats = Stats(
        t=0,
        frames_generated=0,
        blocks_generated=0,
        late_blocks=0,
        skipped_frames=0,
        dropped_frames=0,
        dropped_messages=0,
        avatar_audio_dropped_s=0,
        errors=0,
        rtf=0,
        block_ms=0,
        queues={},
    )
    box.put([event, stats, event])
    assert len(box) == 2 and box.dropped_messages == 1 and all(m is event for m in box.drain())  # stats first
    assert box.pop() is None


def test_evaluations_per_second_counts_steps_branches_and_blocks() -> None:
    from models.generator.config import SamplerConfig
    from plugin_server.session.session import SessionLimits, evaluations_per_second

    default = evaluations_per_second(SamplerConfig(), 4, 25)
    assert default == pytest.approx(9 * 3 * 25 / 4)  # 168.75: the default config is allowed
    assert default < SessionLimits().max_evaluations_per_s
    assert evaluations_per_second(SamplerConfig(guidance=False, block_frames=2), 4, 25) == pytest.approx(
        112.5
    )
    assert evaluations_per_second(SamplerConfig(nfe=100, block_frames=1), 4, 25) == pytest.approx(7425)
