"""Several sessions ticked together: their due blocks share batched generator steps."""

from __future__ import annotations

import numpy as np
import pytest

from models.bundle import AvatarForcingModel
from plugin_server.protocol import Audio, Config, Error, Motion, ServerMessage, Stats, encode_pcm
from plugin_server.session import Session
from plugin_server.session.batching import tick_sessions

from .conftest import speech


def _sessions(model: AvatarForcingModel, configs: list[dict]) -> list[Session]:
    """Sessions whose clocks start together at 0, each with its own voice and config."""
    sessions = []
    for k, cfg in enumerate(configs):
        s = Session(f"s{k}", model, 0.0)
        assert s.handle(Config(id=1, config={"stats_interval_s": 0.2, "vad": "energy", **cfg}), 0.0)
        voice = speech(1.2, 16000, seed=k)
        for i, j in enumerate(range(0, len(voice), 1600)):
            data = encode_pcm(voice[j : j + 1600], "s16le")
            s.handle(Audio(stream="avatar", seq=i, format="s16le", rate=16000, data=data), 0.0)
        sessions.append(s)
    return sessions


def _motion(msgs: list[ServerMessage]) -> tuple[list[int], np.ndarray]:
    motion = [m for m in msgs if isinstance(m, Motion)]
    frames = [m.frame + i for m in motion for i in range(len(m.timestamps))]
    return frames, np.array([v for m in motion for v in m.values])


def _run(
    sessions: list[Session], together: bool, seconds: float = 1.2
) -> tuple[list[list[ServerMessage]], tuple[int, int, int]]:
    """Tick every 40 ms, together or one by one. Returns the outputs per session and, ticked
    together, (generator steps, blocks, blocks in a shared step)."""
    outs: list[list[ServerMessage]] = [[] for _ in sessions]
    steps = blocks = batched = 0
    for k in range(1, round(seconds / 0.04) + 1):
        now = 0.04 * k
        if together:
            report = tick_sessions(sessions, now)
            for out, got in zip(outs, report.outputs, strict=True):
                out += got
            steps += report.steps
            blocks += report.blocks
            batched += report.batched_blocks
        else:
            for out, s in zip(outs, sessions, strict=True):
                out += s.tick(now)
    return outs, (steps, blocks, batched)


@pytest.mark.parametrize("guidance", [True, False])
def test_sessions_ticked_together_get_what_they_get_alone(model: AvatarForcingModel, guidance: bool) -> None:
    """3 seeded sessions (different voices and seeds): ticked together, every block of each is
    one step shared by all three, and the motion equals ticking each alone."""
    configs = [{"seed": k, "guidance": guidance} for k in range(3)]
    alone, _ = _run(_sessions(model, configs), together=False)
    together, (steps, blocks, batched) = _run(_sessions(model, configs), together=True)
    assert blocks == 3 * 7 and steps == 7 and batched == blocks  # 1.2 s: 7 blocks of 4 frames each
    for a, t in zip(alone, together, strict=True):
        assert not [m for m in a + t if isinstance(m, Error)]
        fa, va = _motion(a)
        ft, vt = _motion(t)
        assert fa == ft == list(range(28))
        np.testing.assert_allclose(vt, va, atol=1e-4)  # values go out rounded to 6 decimals
    stats = [m for m in together[0] if isinstance(m, Stats)]
    assert stats and stats[-1].batched_blocks == stats[-1].blocks_generated >= 5
    assert all(s.batched_blocks == 0 for s in (m for m in alone[0] if isinstance(m, Stats)))


def test_incompatible_sessions_step_apart_and_a_failing_one_does_not_stop_the_others(
    model: AvatarForcingModel,
) -> None:
    """Different block sizes never share a step; a session whose generator fails gets an error
    (and restarts), the others still get every block."""
    sessions = _sessions(model, [{"seed": 0}, {"seed": 1}, {"seed": 2, "block_frames": 2}])
    outs, (steps, blocks, batched) = _run(sessions, together=True, seconds=0.4)
    assert batched == 4 and blocks == 4 + 5 and steps == 2 + 5  # 0.4 s: 2 blocks of 4, 5 of 2
    assert [_motion(o)[0] for o in outs] == [list(range(8)), list(range(8)), list(range(10))]

    broken = sessions[1]
    assert broken.stream is not None
    sampler = broken.stream.sampler

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    sampler._block_inputs = fail  # type: ignore[method-assign]
    report = tick_sessions(sessions, 0.56)
    errors = [m for m in report.outputs[1] if isinstance(m, Error)]
    assert len(errors) == 1 and "boom" in errors[0].message
    assert _motion(report.outputs[0])[0] == [8, 9, 10, 11]  # the batch was retried one by one
    assert _motion(report.outputs[2])[0] == [10, 11, 12, 13]
    later = tick_sessions(sessions, 0.8)  # the broken session restarted its generator
    assert not [m for o in later.outputs for m in o if isinstance(m, Error)]
    assert _motion(later.outputs[1])[0][0] == 9  # one frame skipped, then on again


def test_early_blocks_join_a_batch(model: AvatarForcingModel) -> None:
    """A session due a few ms later shares the step when `early_s` covers the gap."""
    a, b = _sessions(model, [{"seed": 0}, {"seed": 1}])
    b._origin = 0.003  # its clock started 3 ms later: its blocks fall due 3 ms after a's
    assert tick_sessions([a, b], 0.16).steps == 1 and b.next_frame == 0
    a2, b2 = _sessions(model, [{"seed": 0}, {"seed": 1}])
    b2._origin = 0.003
    report = tick_sessions([a2, b2], 0.16, early_s=0.005)
    assert report.steps == 1 and report.batched_blocks == 2 and b2.next_frame == 4
