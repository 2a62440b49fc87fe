"""Server-level fuzz: junk on some connections never hurts the server or a well-behaved session.

A real `AvatarServer` on 127.0.0.1 (small random model) serves one well-behaved session that
streams audio in real time and receives motion, while hypothesis throws junk at the server on one
or two more connections at once: random bytes, text that is not JSON, msgpack / JSON values and
maps with wrong types, unknown message types, valid messages with a field replaced, strings,
lists and nesting over the limits, strings with lone surrogates, messages before `hello`, audio
and user motion with wrong sequence numbers, frames over `max_message_bytes` and text frames that
are not UTF-8.

The oracle: after each junk frame the junk client sends a probe (an empty `config` with a known
id); what the server sends in between is the junk frame's reply (a connection's replies keep
their order). Following docs/protocol.md:
- a frame the protocol's decoder refuses gets exactly one non-fatal `error` with the decoder's
  code and `msg_id`; before `hello`, a decodable message that is not a hello gets `bad_state`;
- a `seq` that skips ahead gets `sequence_gap`, one that is not above the last gets
  `sequence_repeat`, the next one nothing;
- a frame over `max_message_bytes` closes the connection with 1009, a text frame that is not
  UTF-8 with 1007;
- nothing is ever an `internal` error, and `bye` closes with 1000.
The well-behaved session gets contiguous motion at 25 fps with increasing timestamps, on time,
with no error, skip or drop; afterwards /health is ok, every junk session is gone and a new
session streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from models.bundle import AvatarForcingModel
from plugin_server.protocol import (
    MESSAGE_TYPES,
    Ack,
    Audio,
    Bye,
    Config,
    Control,
    Error,
    Hello,
    Limits,
    Message,
    Motion,
    ProtocolError,
    ServerMessage,
    Stats,
    UserMotion,
    UserVideo,
    Welcome,
    decode,
    encode,
    encode_pcm,
)
from plugin_server.server.client import AvatarClient, stream_audio
from tests.plugin_server.protocol.examples import examples

from .conftest import server_thread, serving, speech

FPS = 25
LIMITS = Limits(
    max_message_bytes=16 * 1024,
    max_audio_chunk_s=0.5,
    max_motion_frames=20,
    max_list_items=64,
    max_string_chars=256,
    max_depth=4,
)
SERVER = {"limits": LIMITS, "grace_s": 0.5, "expire_interval_s": 0.2, "max_sessions": 32}
PROBE_ID = 987_654_321  # + a counter (a junk frame with such an id would also have to be a valid config)
REPLY_TIMEOUT_S = 10.0
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- junk ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """One junk websocket frame; `close`: the close code it must cause (else: an error reply)."""

    data: bytes | str
    close: int | None = None
    as_text: bool = False  # bytes sent as a text frame (not UTF-8)


@dataclass(frozen=True)
class Seq:
    """A valid audio or user_motion message whose `seq` the oracle checks."""

    stream: str  # "avatar", "user" or "user_motion"
    seq: int
    binary: bool


@dataclass(frozen=True)
class Script:
    pre: list[Frame]  # before hello
    post: list[Frame | Seq]  # after hello
    binary: bool  # the hello's framing (the server answers in it)


def _pack(value: Any) -> bytes | None:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):  # ints over 64 bits, lone surrogates
        return None


def _frame(value: Any, binary: bool) -> Frame:
    if binary:
        packed = _pack(value)
        if packed is not None:
            return Frame(packed)
    # JSON: bytes as hex text; lone surrogates become \\udXXX escapes
    return Frame(json.dumps(value, default=lambda b: b.hex()))


any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # with lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.binary(max_size=24),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text | st.integers(-3, 3), children, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    "id version config action stream seq format rate channels data frames names width height event "
    "resume capabilities client x".split()
)
client_examples = [m for m in examples() if m.FROM_CLIENT]


def _mutated(index: int, key: str, value: Any, drop: bool, binary: bool) -> Frame:
    d = msgpack.unpackb(encode(client_examples[index], True))
    if drop:
        d.pop(key, None)
    else:
        d[key] = value
    return _frame(d, binary)


def _over_limits(kind: int, n: int, binary: bool) -> Frame:
    if kind == 0:  # nesting deeper than max_depth
        nested: Any = 1
        for _ in range(LIMITS.max_depth + n % 20):
            nested = {"a": nested}
        return _frame({"type": "config", "id": n, "config": nested}, binary)
    if kind == 1:  # a string over max_string_chars
        return _frame(
            {"type": "hello", "id": n, "version": 1, "client": "x" * (LIMITS.max_string_chars + n)}, binary
        )
    if kind == 2:  # a list over max_list_items
        return _frame({"type": "hello", "id": n, "version": 1, "capabilities": ["c"] * (64 + n)}, binary)
    if kind == 3:  # more user motion rows than max_motion_frames
        rows = [[0.0]] * (LIMITS.max_motion_frames + 1 + n % 20)
        return _frame({"type": "user_motion", "id": n, "seq": 0, "frames": rows}, binary)
    # an audio chunk longer than max_audio_chunk_s
    data = bytes(2 * int(8000 * LIMITS.max_audio_chunk_s + 2 + n % 50))
    audio = {
        "type": "audio",
        "id": n,
        "stream": "user",
        "seq": 0,
        "format": "s16le",
        "rate": 8000,
        "data": data,
    }
    return _frame(audio, binary)


def _oversized(extra: int, binary: bool) -> Frame:
    n = LIMITS.max_message_bytes + extra
    return Frame(bytes(n) if binary else "x" * n, close=1009)


junk_frames = st.one_of(
    st.binary(max_size=200).map(Frame),  # mostly not msgpack
    st.text(max_size=200).map(Frame),  # mostly not JSON
    st.builds(_frame, json_values, st.booleans()),  # values that are not messages
    st.builds(
        lambda kind, fields, binary: _frame({"type": kind, **fields}, binary),
        st.sampled_from(sorted(MESSAGE_TYPES)),  # server messages too: unknown to a server
        st.dictionaries(field_names, json_values, max_size=6),
        st.booleans(),
    ),
    st.builds(
        lambda kind, msg_id, binary: _frame({"type": kind, "id": msg_id}, binary),
        any_text.filter(lambda t: t not in MESSAGE_TYPES),
        st.integers(0, 10**6),
        st.booleans(),
    ),
    st.builds(
        _mutated,
        st.integers(0, len(client_examples) - 1),
        field_names,
        json_values,
        st.booleans(),
        st.booleans(),
    ),
    st.builds(_over_limits, st.integers(0, 4), st.integers(1, 300), st.booleans()),
    st.builds(
        lambda data: Frame(msgpack.packb({"type": "hello", "version": 1, "client": data})),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)),
    ),
)
closing_frames = st.one_of(
    st.builds(_oversized, st.integers(1, 4096), st.booleans()),
    st.binary(max_size=20).map(lambda b: Frame(b"\xff" + b, close=1007, as_text=True)),
)
seq_runs = st.builds(  # a few chunks of one stream, numbered in order, with gaps or repeated
    lambda stream, seqs, binary: [Seq(stream, n, binary) for n in seqs],
    st.sampled_from(["avatar", "user", "user_motion"]),
    st.lists(st.sampled_from([-1, 0, 1, 2, 3, 5, 8]), min_size=2, max_size=5),
    st.booleans(),
)
scripts = st.builds(
    lambda pre, before, run, after, closing, binary: Script(
        pre, [*before, *run, *after] + ([closing] if closing is not None else []), binary
    ),
    st.lists(junk_frames, max_size=2),  # before hello
    st.lists(junk_frames, max_size=3),  # after hello, before the sequence numbers
    seq_runs,
    st.lists(junk_frames, max_size=3),
    st.none() | st.none() | closing_frames,
    st.booleans(),
)


# --- the junk client and its oracle ----------------------------------------------------------------
def _decoded(frame: bytes | str) -> Message | ProtocolError:
    try:
        return decode(frame, LIMITS)
    except ProtocolError as e:
        return e


PCM = encode_pcm(np.zeros(320), "s16le")  # 20 ms at 16 kHz


def _seq_message(item: Seq, msg_id: int) -> Message:
    if item.stream == "user_motion":
        return UserMotion(id=msg_id, seq=item.seq, frames=[[0.0] * 58])
    return Audio(id=msg_id, stream=item.stream, seq=item.seq, format="s16le", rate=16000, data=PCM)  # type: ignore[arg-type]


@dataclass
class JunkClient:
    """One junk connection: sends a script, checks every reply against the oracle."""

    url: str
    script: Script
    ids: Iterator[int] = field(default_factory=itertools.count)
    last_seq: dict[str, int] = field(default_factory=dict)
    seq_exact: bool = True  # False once a random valid message may have moved or reset the counters
    hello_done: bool = False
    received: list[ServerMessage] = field(default_factory=list)

    async def run(self) -> None:
        async with connect(self.url, compression=None, proxy=None, max_size=None) as ws:
            for frame in self.script.pre:
                if not await self._junk(ws, frame, hello_done=False):
                    return
            await ws.send(encode(Hello(version=1, client="fuzz"), self.script.binary))
            welcome = decode(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S), server=True)
            assert isinstance(welcome, Welcome), welcome
            self.hello_done = True
            for item in self.script.post:
                done = await (self._seq(ws, item) if isinstance(item, Seq) else self._junk(ws, item, True))
                if not done:
                    return
            await ws.send(encode(Bye(), self.script.binary))
            await self._closed(ws, 1000)

    async def _junk(self, ws: ClientConnection, frame: Frame, hello_done: bool) -> bool:
        """Send one junk frame and check the reply; False when the connection (rightly) closed."""
        if frame.close is not None:
            if frame.as_text:
                await ws.send(frame.data, text=True)
            else:
                await ws.send(frame.data)
            await self._closed(ws, frame.close)
            event(f"closed {frame.close}")
            return False
        expect = _decoded(frame.data)
        if isinstance(expect, ProtocolError):
            want: list[tuple[str, int | None]] | None = [(expect.code.value, expect.msg_id)]
        elif isinstance(expect, Bye) or (isinstance(expect, Hello) and not hello_done):
            return True  # valid: it would end the connection / open the session; not junk
        elif not hello_done:
            want = [("bad_state", getattr(expect, "id", None))]
        else:
            want = None  # a valid message: any reply but an internal or fatal error
            if isinstance(expect, (Audio, UserMotion, UserVideo, Control)):
                self.seq_exact = False
        await ws.send(frame.data)
        errors = await self._probe(ws, hello_done)
        event(f"{'after' if hello_done else 'before'} hello: " + (want[0][0] if want else "a valid message"))
        if want is not None:
            assert errors == want, (frame.data[:200], errors, want)
        return True

    async def _seq(self, ws: ClientConnection, item: Seq) -> bool:
        msg_id = next(self.ids)
        raw = encode(_seq_message(item, msg_id), item.binary)
        expect = _decoded(raw)
        if isinstance(expect, ProtocolError):  # a negative seq
            want = [(expect.code.value, msg_id)]
        else:  # docs/protocol.md: any first value, then +1; a gap is kept, a repeat dropped
            last = self.last_seq.get(item.stream)
            if last is None or item.seq == last + 1:
                want, self.last_seq[item.stream] = [], item.seq
            elif item.seq > last + 1:
                want, self.last_seq[item.stream] = [("sequence_gap", msg_id)], item.seq
            else:
                want = [("sequence_repeat", msg_id)]
        await ws.send(raw)
        errors = await self._probe(ws, True)
        if self.seq_exact or isinstance(expect, ProtocolError):
            event(f"seq: {want[0][0] if want else 'in order'}")
            assert errors == want, (item, errors, want)
        return True

    async def _probe(self, ws: ClientConnection, hello_done: bool) -> list[tuple[str, int | None]]:
        """Send the probe; return the errors the server sent before answering it."""
        probe = PROBE_ID + next(self.ids)
        await ws.send(encode(Config(id=probe, config={}), self.script.binary))
        errors: list[tuple[str, int | None]] = []
        while True:
            msg = await self._recv(ws)
            if hello_done and isinstance(msg, Ack) and msg.msg_id == probe and msg.of == "config":
                return errors
            if isinstance(msg, Error):
                if not hello_done and msg.msg_id == probe and msg.code == "bad_state":
                    return errors
                errors.append((msg.code, msg.msg_id))

    async def _recv(self, ws: ClientConnection) -> ServerMessage:
        frame = await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S)
        if self.hello_done:  # before hello an error comes in the framing of the frame it answers
            assert isinstance(frame, bytes) == self.script.binary
        msg = decode(frame, server=True)
        assert isinstance(msg, ServerMessage)
        self.received.append(msg)
        if isinstance(msg, Error):
            assert msg.code != "internal" and not msg.fatal, msg
        return msg

    async def _closed(self, ws: ClientConnection, code: int) -> None:
        with pytest.raises(ConnectionClosed):
            while True:
                await self._recv(ws)
        assert ws.close_code == code, (ws.close_code, ws.close_reason, code)


# --- the well-behaved session ----------------------------------------------------------------------
@dataclass
class GoodSession:
    """Streams audio in real time (40-ms chunks, 100 ms ahead) and records what comes back."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    received: list[tuple[float, ServerMessage]] = field(default_factory=list)
    clock_start: float = 0.0
    stopped_at: float = 0.0

    async def run(self) -> None:
        client = AvatarClient(self.url)
        await client.connect()
        self.clock_start = time.monotonic()
        await client.send(Config(id=1, config={"seed": 0, "stats_interval_s": 0.5}))
        sender = asyncio.create_task(self._send(client))
        try:
            while not self.stop.is_set():
                try:
                    msg = await client.recv(0.1)
                except TimeoutError:
                    continue
                self.received.append((time.monotonic(), msg))
        finally:
            self.stopped_at = time.monotonic()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await client.bye()

    async def _send(self, client: AvatarClient) -> None:
        voice = speech(4.0, 16000)
        step = 640
        for i in itertools.count():
            delay = self.clock_start + (i + 1) * 0.04 - 0.1 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            j = i * step % len(voice)
            pcm = encode_pcm(voice[j : j + step], "s16le")
            await client.send(Audio(id=i + 2, stream="avatar", seq=i, format="s16le", rate=16000, data=pcm))

    def _stats(self) -> list[Stats]:
        return [m for _, m in self.received if isinstance(m, Stats)]

    def check(self) -> None:
        msgs = [m for _, m in self.received]
        errors = [m for m in msgs if isinstance(m, Error)]
        assert not errors, errors
        motion = [(at, m) for at, m in self.received if isinstance(m, Motion)]
        frames = [m.frame + i for _, m in motion for i in range(len(m.timestamps))]
        jumps = [(a, b) for a, b in itertools.pairwise(frames) if b != a + 1]
        assert frames[:1] == [0] and not jumps, f"motion frames jump: {jumps[:5]}, stats {self._stats()[-1:]}"
        for _, m in motion:
            assert m.fps == FPS
            assert m.timestamps == pytest.approx([(m.frame + i) / FPS for i in range(len(m.timestamps))])
        stamps = [t for _, m in motion for t in m.timestamps]
        assert all(b > a for a, b in itertools.pairwise(stamps)), "timestamps must increase"
        ran = self.stopped_at - self.clock_start
        assert len(frames) >= (ran - 0.6) * FPS, (len(frames), ran)  # 25 fps up to the end
        late = [at - (self.clock_start + (m.frame + len(m.timestamps)) / FPS) for at, m in motion]
        assert statistics.median(late) < 0.3, statistics.median(late)
        stats = self._stats()
        assert stats and all(s.skipped_frames == 0 and s.dropped_frames == 0 for s in stats), stats[-1:]


@contextlib.contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="good-session", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def _health(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 200, head
    return json.loads(body)


def test_junk_never_hurts_the_server_or_other_sessions(model: AvatarForcingModel) -> None:
    with server_thread(model, **SERVER) as server, _loop_thread() as loop:
        good = GoodSession(server.url)
        running = asyncio.run_coroutine_threadsafe(good.run(), loop)
        time.sleep(0.5)  # streaming

        @FUZZ
        @given(st.lists(scripts, min_size=1, max_size=2))
        def junk(connections: list[Script]) -> None:
            async def main() -> None:
                await asyncio.gather(*(JunkClient(server.url, s).run() for s in connections))

            asyncio.run(asyncio.wait_for(main(), 60))
            assert not running.done(), running.exception()  # the good session is still streaming

        junk()
        time.sleep(0.3)
        good.stop.set()
        running.result(15)
        good.check()

        async def afterwards() -> None:
            assert (await _health(server.port))["status"] == "ok"
            result = await stream_audio(server.url, (speech(0.8, 16000), 16000), tail_s=0.3)
            assert len(result.motion) >= 4 and not result.errors
            for _ in range(50):  # bye closes, dropped junk sessions expire (grace 0.5 s)
                health = await _health(server.port)
                if health["sessions"] == 0:
                    break
                await asyncio.sleep(0.1)
            assert health["sessions"] == 0, health

        asyncio.run(asyncio.wait_for(afterwards(), 30))


def test_lone_surrogates_in_json_are_refused_and_the_session_goes_on(model: AvatarForcingModel) -> None:
    """Regression: JSON can spell a lone surrogate ("\\ud800"), which neither UTF-8 nor msgpack can
    carry back. A config `avatar` holding one used to be accepted; then every `ack` (which echoes
    the config) failed to encode: dropped on a msgpack connection, and a JSON connection died."""

    async def main() -> None:
        async with serving(model) as server:
            for binary in (True, False):
                async with connect(server.url, compression=None, proxy=None) as ws:
                    await ws.send(encode(Hello(version=1), binary))
                    assert isinstance(decode(await ws.recv(), server=True), Welcome)
                    await ws.send('{"type": "config", "id": 5, "config": {"avatar": "\\ud800"}}')
                    await ws.send('{"type": "turn", "id": 6, "event": "\\udfff"}')
                    await ws.send(encode(Config(id=7, config={"avatar": "caf\u00e9 \U0001f600"}), binary))
                    got = []
                    while not any(isinstance(m, Ack) for m in got):
                        got.append(decode(await asyncio.wait_for(ws.recv(), 5), server=True))
                    errors = [(m.code, m.msg_id) for m in got if isinstance(m, Error)]
                    assert errors == [("bad_value", 5), ("bad_value", 6)]
                    (ack,) = [m for m in got if isinstance(m, Ack)]
                    assert ack.msg_id == 7 and ack.config is not None
                    assert ack.config["avatar"] == "caf\u00e9 \U0001f600"

    asyncio.run(asyncio.wait_for(main(), 30))
