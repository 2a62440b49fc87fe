"""Server-level sinks: the ARKit tap on sessions, the router's ownership, pacing and audio, and
sinks following the oldest session of a live server."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import ClassVar

import numpy as np
import pytest

from models.bundle import AvatarForcingModel
from models.motion.arkit import ARKIT_DIM
from plugin_server.protocol import Audio, AvatarAudio, Config, Motion, TurnEvent, encode_pcm
from plugin_server.server import SinkRouter, TappedSession
from plugin_server.server.client import AvatarClient, audio_chunks
from plugin_server.sinks import MotionFrame, Sink, SinkStats

from .conftest import run, serving, speech


class Recorder(Sink):
    """A sink that keeps what it gets, with arrival times."""

    name = "recorder"
    consumes: ClassVar[frozenset[str]] = frozenset({"motion"})

    def __init__(self) -> None:
        self.frames: list[tuple[float, MotionFrame]] = []
        self.started = self.stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def submit(self, frame: MotionFrame) -> None:
        with self._lock:
            self.frames.append((time.monotonic(), frame))

    @property
    def stats(self) -> SinkStats:
        return SinkStats(sent=len(self.frames))

    @property
    def running(self) -> bool:
        return self.started and not self.stopped


class AudioRecorder(Recorder):
    name = "audio_recorder"
    consumes: ClassVar[frozenset[str]] = frozenset({"audio"})
    samplerate = 16000

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[tuple[np.ndarray, float | None]] = []
        self.cleared = 0

    def submit_audio(self, pcm: np.ndarray, timestamp: float | None = None) -> None:
        self.audio.append((np.asarray(pcm), timestamp))

    def clear(self) -> None:
        self.cleared += 1


def test_tapped_session_hands_over_the_arkit_frames(model: AvatarForcingModel) -> None:
    """The tap sees exactly the frames the session sends (the public take_arkit_blocks hook)."""
    s = TappedSession("t", model, 0.0)
    s.handle(Config(config={"seed": 1, "naming": "arkit"}), 0.0)
    x = speech(1.0, 16000)
    s.handle(Audio(stream="avatar", seq=0, format="f32le", rate=16000, data=encode_pcm(x, "f32le")), 0.0)
    motion: list[Motion] = []
    blocks = []
    for i in range(1, 13):
        motion += [m for m in s.tick(i * 0.04) if isinstance(m, Motion)]
        blocks += s.take_blocks()
    assert len(blocks) == len(motion) >= 2
    for (k0, arkit), m in zip(blocks, motion, strict=True):
        assert k0 == m.frame and arkit.shape == (len(m.timestamps), ARKIT_DIM)
        np.testing.assert_allclose(arkit, np.array(m.values), atol=1e-6)
    assert s.take_blocks() == []
    s.handle(Config(config={"outputs": ["stats"]}), 0.5)  # no motion output: the sinks still get it
    assert not [m for m in s.tick(0.8) if isinstance(m, Motion)] and s.take_blocks()


def test_router_follows_its_owner_and_paces_frames() -> None:
    rec, audio = Recorder(), AudioRecorder()
    router = SinkRouter([rec, audio], delay_s=0.0)
    router.start()
    try:
        block = np.zeros((4, ARKIT_DIM), np.float32)
        router.offer("a", 25, [(0, block)])  # no owner yet: ignored
        router.set_owner("a")
        router.offer("b", 25, [(0, block)])  # not the owner: ignored
        t0 = time.monotonic()
        router.offer("a", 25, [(0, block), (4, block + 0.5)])
        for _ in range(100):
            if len(rec.frames) == 8:
                break
            time.sleep(0.02)
        assert [f.index for _, f in rec.frames] == list(range(8))
        assert [f.timestamp for _, f in rec.frames] == pytest.approx([k / 25 for k in range(8)])
        gaps = np.diff([t for t, _ in rec.frames])
        assert 0.03 < statistics.median(gaps) < 0.05  # 25 fps, not one burst
        assert rec.frames[-1][0] - t0 == pytest.approx(7 / 25, abs=0.03)

        pcm = encode_pcm(np.full(7680, 0.25, np.float32), "s16le")  # 4 frames at 48 kHz
        msgs = [
            AvatarAudio(frame=k, frames=4, t=k / 25, format="s16le", rate=48000, channels=1, data=pcm)
            for k in (0, 4, 8)
        ]
        router.offer("a", 25, messages=msgs)
        assert [t for _, t in audio.audio] == [0.0, None, None]  # anchored once, then appended
        total = sum(len(p) for p, _ in audio.audio)
        assert 3 * 2560 - 500 <= total <= 3 * 2560  # resampled to 16 kHz (less the filter delay)
        cleared = audio.cleared  # (set_owner cleared it once already)
        router.offer(
            "a",
            25,
            messages=[
                TurnEvent(event="interrupted", state="user_speaking", source="client", frame=12, t=0.48)
            ],
        )
        assert audio.cleared == cleared + 1  # barge-in
        router.set_owner("b")
        assert audio.cleared == cleared + 2 and router.owner == "b"
    finally:
        router.stop()
    assert rec.stopped and audio.stopped
    assert router.stats()["frames_out"] == 8


def test_sinks_follow_the_oldest_session(model: AvatarForcingModel) -> None:
    rec = Recorder()

    async def stream(client: AvatarClient, seconds: float, seed: int) -> list[Motion]:
        await client.send(Config(config={"seed": seed}))
        for c in audio_chunks(speech(seconds, 16000, seed), 16000, chunk_s=0.2):
            await client.send(c)
        motion: list[Motion] = []
        deadline = time.monotonic() + seconds + 0.3
        while time.monotonic() < deadline:
            try:
                msg = await client.recv(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if isinstance(msg, Motion):
                motion.append(msg)
        return motion

    async def main() -> None:
        async with serving(model, sinks=[rec]) as server:
            assert rec.started
            first, second = AvatarClient(server.url), AvatarClient(server.url)
            w1 = await first.connect()
            w2 = await second.connect()
            assert server.router.owner == w1.session_id
            m1, _ = await asyncio.gather(stream(first, 1.2, 1), stream(second, 1.2, 2))
            sent = {m.frame + i: row for m in m1 for i, row in enumerate(m.values)}
            for _ in range(100):  # the pacer releases the last blocks on the 25-fps clock
                got = {f.index: f.values for _, f in rec.frames}
                if set(sent) <= set(got):
                    break
                await asyncio.sleep(0.02)
            assert len(sent) >= 25 and set(sent) <= set(got)
            for k, row in sent.items():  # the first session's face, not the second's
                np.testing.assert_allclose(got[k], row, atol=1e-5)
            times = [t for t, f in rec.frames if f.index in sent]
            assert 0.03 < statistics.median(np.diff(times)) < 0.05  # paced at 25 fps
            await first.bye()
            for _ in range(100):
                if server.router.owner == w2.session_id:
                    break
                await asyncio.sleep(0.02)
            assert server.router.owner == w2.session_id  # the next oldest takes over
            await second.bye()
        assert rec.stopped

    run(main())
