"""End to end: real websockets clients against an in-process server on 127.0.0.1 (a free port)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import statistics
import time
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from models.bundle import AvatarForcingModel
from models.generator.sampler import StreamingSampler
from plugin_server.protocol import (
    Ack,
    Audio,
    AvatarAudio,
    Config,
    Error,
    Hello,
    Limits,
    Motion,
    Stats,
    Turn,
    TurnEvent,
    Welcome,
    decode,
    decode_pcm,
    encode,
)
from plugin_server.server import CLOSE_HELLO_TIMEOUT, CLOSE_RESUMED, AvatarServer, ServerConfig
from plugin_server.server.client import (
    AvatarClient,
    HandshakeError,
    StreamResult,
    audio_chunks,
    stream_audio,
)

from .conftest import run, serving, speech

FPS = 25


def _contiguous(motion: list[Motion]) -> list[int]:
    frames = [m.frame + i for m in motion for i in range(len(m.timestamps))]
    assert frames == list(range(frames[0], frames[0] + len(frames))), "motion frames are not contiguous"
    for m in motion:
        assert m.fps == FPS
        assert m.timestamps == pytest.approx([(m.frame + i) / FPS for i in range(len(m.timestamps))])
    stamps = [t for m in motion for t in m.timestamps]
    assert all(b > a for a, b in itertools.pairwise(stamps)), "timestamps must increase"
    return frames


def _pcm(msgs: list[AvatarAudio]) -> np.ndarray:
    return np.concatenate([decode_pcm(a.data, a.format, a.channels)[:, 0] for a in msgs])


async def _health(port: int) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert b"application/json" in head
    return status, json.loads(body)


def test_end_to_end_session(model: AvatarForcingModel) -> None:
    """hello/welcome, config, ~2 s of avatar audio in real time, user audio, turn cues with a
    barge-in; motion at 25 fps with increasing timestamps, avatar audio re-emitted in step."""
    rate = 24000
    voice = speech(2.0, rate)
    mic = 0.1 * speech(2.0, 16000, seed=1)
    interrupt_at = 1.3

    async def main() -> None:
        async with serving(model) as server:
            client = AvatarClient(server.url)
            welcome = await client.connect()
            assert welcome.fps == FPS and not welcome.resumed and welcome.session_id
            assert welcome.limits["max_message_bytes"] == server.config.limits.max_message_bytes
            result = await stream_audio(
                server.url,
                (voice, rate),
                (mic, 16000),
                config={"seed": 3, "stats_interval_s": 0.5},
                cues=[(interrupt_at, Turn(event="user_start")), (interrupt_at, Turn(event="interrupt"))],
                client=client,
            )
            status, health = await _health(server.port)
            assert status == 200 and health["sessions"] == 1 and health["attached"] == 1
            await client.bye()
            for _ in range(50):  # the server closes the session on bye
                if len(server.registry) == 0:
                    break
                await asyncio.sleep(0.02)
            assert len(server.registry) == 0

        assert not result.errors, result.errors
        acks = result.acks
        assert [a.of for a in acks] == ["config", "turn", "turn", "turn", "turn"]
        assert acks[0].config is not None and acks[0].config["seed"] == 3

        frames = _contiguous(result.motion)
        assert frames[0] == 0 and len(frames) >= 2.2 * FPS
        assert len(result.motion[0].names) == 58 and result.motion[0].naming == "arkit"
        values = np.array([row for m in result.motion for row in m.values])
        assert np.isfinite(values).all() and values.std(axis=0).max() > 0  # it moves

        audio = result.avatar_audio
        assert [(a.frame, a.frames) for a in audio] == [(m.frame, len(m.timestamps)) for m in result.motion]
        assert all(a.rate == rate and a.format == "s16le" and a.t == a.frame / FPS for a in audio)

        (interrupted,) = [e for e in result.events if e.event == "interrupted"]
        cut = interrupted.frame
        assert abs(cut / FPS - interrupt_at) < 0.5
        names = [(e.event, e.source) for e in result.events]
        assert ("avatar_started", "client") in names and ("avatar_stopped", "client") in names
        before = _pcm([a for a in audio if a.frame + a.frames <= cut])
        sent = np.clip(np.rint(voice * 32768), -32768, 32767) / 32768
        np.testing.assert_array_equal(before, sent[: len(before)])  # exactly what drove the mouth
        after = _pcm([a for a in audio if a.frame >= cut])
        assert len(after) and not after.any()  # barge-in: the avatar is silent from the cut on
        assert max(s.avatar_audio_dropped_s for s in result.stats) > 0.2

        late = result.lateness()
        print(
            f"\nmotion block latency beyond due: median {1000 * statistics.median(late):.0f} ms, "
            f"max {1000 * max(late):.0f} ms"
        )
        assert statistics.median(late) < 0.25 and max(late) < 0.9  # on time (max_lag is 1 s)
        assert all(s.skipped_frames == 0 for s in result.stats)

    run(main())


def test_json_text_frames(model: AvatarForcingModel) -> None:
    """A client speaking JSON gets JSON text frames back; base64 audio works both ways."""

    async def main() -> None:
        async with serving(model) as server, connect(server.url, compression=None) as ws:
            await ws.send(encode(Hello(id=1, version=1, capabilities=["json"]), binary=False))
            raw = await ws.recv()
            assert isinstance(raw, str)
            welcome = decode(raw, server=True)
            assert isinstance(welcome, Welcome)
            await ws.send(encode(Config(id=2, config={"seed": 1, "naming": "vts"}), binary=False))
            for chunk in audio_chunks(speech(0.6, 16000), 16000, chunk_s=0.1):
                await ws.send(encode(chunk, binary=False))
            got: list = []
            deadline = time.monotonic() + 3.0
            while sum(isinstance(m, Motion) for m in got) < 3 and time.monotonic() < deadline:
                frame = await asyncio.wait_for(ws.recv(), 3.0)
                assert isinstance(frame, str)
                got.append(decode(frame, server=True))
        assert isinstance(got[0], Ack) and got[0].msg_id == 2
        motion = [m for m in got if isinstance(m, Motion)]
        assert len(motion) >= 3 and motion[0].naming == "vts" and "MouthOpen" in motion[0].names
        _contiguous(motion)
        assert any(isinstance(m, AvatarAudio) and len(m.data) for m in got)

    run(main())


def test_msgpack_and_json_mixed(model: AvatarForcingModel) -> None:
    """Binary hello -> binary replies, whatever framing later messages use."""

    async def main() -> None:
        async with serving(model) as server, connect(server.url, compression=None) as ws:
            await ws.send(encode(Hello(version=1), binary=True))
            assert isinstance(await ws.recv(), bytes)
            await ws.send(encode(Config(id=7, config={"seed": 1}), binary=False))
            ack = await asyncio.wait_for(ws.recv(), 3.0)
            assert isinstance(ack, bytes)
            msg = decode(ack, server=True)
            assert isinstance(msg, Ack) and msg.msg_id == 7

    run(main())


def test_malformed_messages_get_errors_and_the_session_goes_on(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server:
            client = AvatarClient(server.url)
            await client.connect()
            await client.send_raw(b"\xc1\x00garbage")  # not msgpack
            await client.send_raw('{"type": "nope", "id": 5}')
            await client.send_raw('{"type": "audio", "id": 6, "stream": "avatar", "seq": 0}')
            await client.send_raw("[1, 2")  # not JSON
            await client.send(Config(id=8, config={"seed": 1, "no_such_key": 1}))
            await client.send(Config(id=9, config={"seed": 1}))
            for chunk in audio_chunks(speech(0.5, 16000), 16000, chunk_s=0.1):
                await client.send(chunk)
            got = []
            deadline = time.monotonic() + 3.0
            while sum(isinstance(m, Motion) for m in got) < 2 and time.monotonic() < deadline:
                got.append(await client.recv(3.0))
            await client.bye()
        errors = [(m.code, m.msg_id, m.fatal) for m in got if isinstance(m, Error)]
        assert errors == [
            ("malformed", None, False),
            ("unknown_type", 5, False),
            ("missing_field", 6, False),
            ("malformed", None, False),
            ("bad_config", 8, False),
        ]
        assert any(isinstance(m, Ack) and m.msg_id == 9 for m in got)
        assert sum(isinstance(m, Motion) for m in got) >= 2  # the session went on

    run(main())


def test_first_message_must_be_hello(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server, connect(server.url, compression=None) as ws:
            await ws.send(encode(Config(id=1, config={}), binary=False))
            err = decode(await ws.recv(), server=True)
            assert isinstance(err, Error) and err.code == "bad_state" and not err.fatal
            await ws.send(encode(Hello(version=2), binary=True))
            err = decode(await ws.recv(), server=True)
            assert isinstance(err, Error) and err.code == "version_mismatch" and err.fatal
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3.0)
            assert ws.close_code == 1008

    run(main())


def test_oversized_message_is_refused_and_the_session_resumes(model: AvatarForcingModel) -> None:
    """Over max_message_bytes the websocket library refuses the frame (close 1009, message too
    big) before anything is buffered; the session waits for a resume."""
    limits = Limits(max_message_bytes=64 * 1024)

    async def main() -> None:
        async with serving(model, limits=limits) as server:
            client = AvatarClient(server.url, limits=limits)
            welcome = await client.connect()
            assert welcome.limits["max_message_bytes"] == 64 * 1024
            await client.send(Config(id=1, config={"seed": 1}))
            assert isinstance(await client.recv(3.0), Ack)
            big = Audio(stream="avatar", seq=0, format="s16le", rate=48000, data=bytes(2 * 40_000))
            await client.send(big)  # 80 kB > 64 kB
            with pytest.raises(ConnectionClosed):
                while True:
                    await client.recv(3.0)
            assert client.ws is not None and client.ws.close_code == 1009
            again = AvatarClient(server.url, limits=limits)
            resumed = await again.connect(resume=welcome.session_id)
            assert resumed.resumed and resumed.session_id == welcome.session_id
            await again.bye()

    run(main())


def test_resume_within_grace(model: AvatarForcingModel) -> None:
    """A dropped connection leaves the session waiting with its clock frozen; `hello.resume`
    continues it (same frame numbers and sequence counters); a second connection resuming a
    live session takes it over; an unknown id is refused."""

    async def main() -> None:
        async with serving(model, grace_s=5.0) as server:
            first = AvatarClient(server.url)
            welcome = await first.connect()
            sid = welcome.session_id
            chunks = audio_chunks(speech(3.0, 16000), 16000, chunk_s=0.1)
            await first.send(Config(id=1, config={"seed": 1}))
            for c in chunks[:10]:
                await first.send(c)
            motion: list[Motion] = []
            while len(motion) < 3:
                msg = await first.recv(3.0)
                if isinstance(msg, Motion):
                    motion.append(msg)
            assert first.ws is not None
            first.ws.transport.abort()  # the network drops: no bye, no close frame
            last = motion[-1].frame + len(motion[-1].timestamps)
            for _ in range(100):
                if server.health()["attached"] == 0:
                    break
                await asyncio.sleep(0.02)
            health = server.health()
            assert (health["sessions"], health["attached"]) == (1, 0)
            await asyncio.sleep(0.6)  # detached: the clock is frozen meanwhile

            second = AvatarClient(server.url, binary=False)
            resumed = await second.connect(resume=sid)
            assert resumed.resumed and resumed.session_id == sid
            for c in chunks[10:20]:  # the next seq of the stream: no sequence error
                await second.send(c)
            later: list = []
            while sum(isinstance(m, Motion) for m in later) < 4:
                later.append(await second.recv(3.0))
            assert not [m for m in later if isinstance(m, Error)]
            frames = _contiguous([m for m in later if isinstance(m, Motion)])
            # frame numbers go on from where the first connection stopped, without a 0.6-s jump
            assert last - 8 <= frames[0] <= last + 8, (last, frames[0])

            third = AvatarClient(server.url)
            await third.connect(resume=sid)  # takes over the live session
            with pytest.raises(ConnectionClosed):
                while True:
                    await second.recv(3.0)
            assert second.ws is not None and second.ws.close_code == CLOSE_RESUMED
            assert isinstance(await third.recv(3.0), Motion | AvatarAudio | Stats | TurnEvent)
            await third.bye()

            stranger = AvatarClient(server.url)
            with pytest.raises(HandshakeError) as info:
                await stranger.connect(resume=sid)  # ended by bye
            assert info.value.error.code == "unknown_session" and info.value.error.fatal

    run(main())


def test_slow_consumer_does_not_stall_other_sessions(model: AvatarForcingModel) -> None:
    """Session A never reads (a tiny receive buffer; its avatar audio, 8 channels of 96-kHz float,
    is re-emitted at 3 MB/s); session B still gets every frame on time, and A's stalled
    connection is dropped once the socket buffers are full (the session stays resumable)."""

    async def main() -> None:
        async with serving(model, send_timeout_s=0.5) as server:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            slow = AvatarClient(server.url)
            slow.ws = await connect(server.url, sock=sock, max_queue=1, compression=None, proxy=None)
            await slow.connect()
            await slow.send(Config(config={"seed": 0, "stats_interval_s": 0.1}))
            heavy = np.tile(speech(4.0, 96000)[:, None], (1, 8))
            for c in audio_chunks(heavy, 96000, chunk_s=0.5, sample_format="f32le"):
                await slow.send(c)  # A now reads nothing at all

            fast = await stream_audio(server.url, (speech(2.5, 24000), 24000), tail_s=0.3)
            assert slow.welcome is not None
            slow_id = slow.welcome.session_id
            # wait for A's drop; B has said bye and may be gone already, so count A alone
            for _ in range(150):
                a = server.registry.get(slow_id)
                if a is not None and a.detached:
                    break
                await asyncio.sleep(0.02)
            sock.close()

        frames = _contiguous(fast.motion)
        assert frames[0] == 0 and len(frames) >= 2.5 * FPS
        late = fast.lateness()
        print(
            f"\nwith a stalled neighbour: median {1000 * statistics.median(late):.0f} ms, "
            f"max {1000 * max(late):.0f} ms beyond due"
        )
        assert statistics.median(late) < 0.3 and max(late) < 0.9
        assert not fast.errors and all(s.skipped_frames == 0 for s in fast.stats)
        assert a is not None and a.detached  # A was dropped and stays resumable

    run(main())


def test_concurrent_sessions_share_batched_forward_passes(model: AvatarForcingModel) -> None:
    """Three clients stream at once; their clocks start within a few ms, so their blocks fall due
    together and the server runs them as batched forward passes: fewer forward calls than
    blocks. Every client still gets contiguous 25-fps motion with increasing timestamps, on time."""
    generator = model.generator
    per_step = len(StreamingSampler(generator, model.card.sampler).timesteps) + 1  # + the refresh
    calls = [0]
    forward = generator.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return forward(*args, **kwargs)

    async def main() -> tuple[list[StreamResult], AvatarServer]:
        async with serving(model) as server:
            clients = [AvatarClient(server.url) for _ in range(3)]
            for c in clients:
                await c.connect()
            results = await asyncio.gather(
                *(
                    stream_audio(
                        server.url,
                        (speech(1.5, 16000, seed=k), 16000),
                        config={"seed": k, "stats_interval_s": 0.5},
                        tail_s=0.5,
                        client=c,
                    )
                    for k, c in enumerate(clients)
                )
            )
            status, health = await _health(server.port)
            assert status == 200 and health["generation"]["batched_blocks"] > 0
            for c in clients:
                await c.bye()
        return list(results), server

    generator.forward = counted  # type: ignore[method-assign]
    try:
        results, server = run(main())
    finally:
        del generator.forward
    gen = server.generation
    print(
        f"\n3 sessions: {gen.blocks} blocks in {gen.steps} generator steps "
        f"({gen.batched_blocks} batched, largest batch {gen.largest_batch}), {calls[0]} forward calls"
    )
    assert gen.blocks >= 3 * 10 and gen.batched_blocks > 0 and gen.largest_batch >= 2
    assert calls[0] == per_step * gen.steps < per_step * gen.blocks  # one pass serves a whole batch
    for result in results:
        assert not result.errors, result.errors
        frames = _contiguous(result.motion)  # 25 fps, increasing timestamps
        assert frames[0] == 0 and len(frames) >= 1.5 * FPS
        late = result.lateness()
        assert statistics.median(late) < 0.25 and max(late) < 0.9
        assert all(s.skipped_frames == 0 for s in result.stats)
    # sessions count their own batched blocks (one whose clock started later than the window may
    # have stepped alone on a loaded machine)
    assert sum(max(s.batched_blocks for s in r.stats) for r in results) > 0


def test_too_many_sessions(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model, max_sessions=1) as server:
            first = AvatarClient(server.url)
            await first.connect()
            second = AvatarClient(server.url)
            with pytest.raises(HandshakeError) as info:
                await second.connect()
            assert info.value.error.code == "too_many_sessions" and info.value.error.fatal
            await first.bye()

    run(main())


def test_token_is_checked_in_the_handshake(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model, token="s3cret") as server:
            for url, headers in [
                (server.url, None),
                (server.url + "?token=wrong", None),
                (server.url, {"Authorization": "Bearer wrong"}),
            ]:
                with pytest.raises(InvalidStatus) as info:
                    await connect(url, additional_headers=headers, proxy=None)
                assert info.value.response.status_code == 401
            async with connect(server.url + "?token=s3cret", proxy=None) as ws:
                await ws.send(encode(Hello(version=1)))
                assert isinstance(decode(await ws.recv(), server=True), Welcome)
            client = AvatarClient(server.url, token="s3cret")  # Authorization: Bearer
            assert (await client.connect()).session_id
            await client.bye()
            status, health = await _health(server.port)  # no token needed, no secrets inside
            assert status == 200 and "s3cret" not in json.dumps(health)

    run(main())


def test_origin_allow_list(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server:
            with pytest.raises(InvalidStatus) as info:
                await connect(server.url, origin="https://evil.example", proxy=None)  # type: ignore[arg-type]
            assert info.value.response.status_code == 403
            for origin in ("http://localhost:5173", "null", None):
                async with connect(server.url, origin=origin, proxy=None) as ws:  # type: ignore[arg-type]
                    await ws.send(encode(Hello(version=1)))
                    assert isinstance(decode(await ws.recv(), server=True), Welcome)
        async with serving(model, allowed_origins=("https://app.example",)) as server:
            with pytest.raises(InvalidStatus):
                await connect(server.url, origin="http://localhost:5173", proxy=None)  # type: ignore[arg-type]
            async with connect(server.url, origin="https://app.example", proxy=None):  # type: ignore[arg-type]
                pass

    run(main())


def test_health_and_graceful_stop(model: AvatarForcingModel) -> None:
    async def main() -> None:
        server = AvatarServer(model, ServerConfig(port=0))
        await server.start()
        status, health = await _health(server.port)
        assert status == 200
        assert health["status"] == "ok" and health["protocol"] == 1 and health["sessions"] == 0
        client = AvatarClient(server.url)
        await client.connect()
        await client.send(Config(config={"seed": 0}))
        await server.stop()  # what SIGINT / SIGTERM do
        with pytest.raises(ConnectionClosed):
            while True:
                await client.recv(3.0)
        assert client.ws is not None and client.ws.close_code == 1001
        assert len(server.registry) == 0
        with pytest.raises(OSError):
            await connect(server.url, proxy=None, open_timeout=2)

    run(main())


def test_no_hello_in_time_closes_the_connection(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model, hello_timeout_s=0.3) as server, connect(server.url, proxy=None) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3.0)
            assert ws.close_code == CLOSE_HELLO_TIMEOUT
            assert len(server.registry) == 0

    run(main())
