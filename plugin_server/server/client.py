"""A small asyncio client of the avatar protocol, for tests, scripts and the README quick start.

`AvatarClient` is the connection: `connect()` says hello (or resumes) and returns the welcome,
`send()` / `recv()` move protocol messages. `stream_audio()` is the whole round trip of
`avatar-forcing client`: it streams an audio file as the avatar's voice in real time (chunks with
sequence numbers, sent `lead_s` ahead of the clock as a TTS engine would), optionally the user's
audio too, and collects everything the server sends back, with arrival times::

    result = asyncio.run(stream_audio("ws://127.0.0.1:8765", "hello.wav"))
    numbers, timestamps, names, values = result.frames()

Unknown server message types and fields are skipped (logged), as the protocol's versioning rule
asks of clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from plugin_server.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Ack,
    Audio,
    AvatarAudio,
    Bye,
    ClientMessage,
    Config,
    Error,
    ErrorCode,
    Hello,
    Limits,
    Motion,
    ProtocolError,
    ServerMessage,
    Stats,
    Turn,
    TurnEvent,
    Welcome,
    decode,
    encode,
    encode_pcm,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=ServerMessage)
AudioSource = str | Path | tuple[np.ndarray, int]
"""An audio file path, or (samples (n,) or (n, channels) float in -1..1, sample rate)."""


class HandshakeError(RuntimeError):
    """The server answered `hello` with an error (e.g. `unknown_session`)."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class AvatarClient:
    """One protocol connection.

    Args:
        url: `ws://host:port/`.
        token: sent as `Authorization: Bearer <token>` when set.
        binary: msgpack binary frames (True) or JSON text frames.
        origin: an `Origin` header to send (browsers do; scripts normally do not).
        limits: wire limits used to read server messages.
        name: the `hello.client` string.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        binary: bool = True,
        origin: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        name: str = "avatar-forcing-client/1",
    ) -> None:
        self.url = url
        self.token = token
        self.binary = binary
        self.origin = origin
        self.limits = limits
        self.name = name
        self.ws: ClientConnection | None = None
        self.welcome: Welcome | None = None
        self._next_id = 0

    @property
    def session_id(self) -> str | None:
        return None if self.welcome is None else self.welcome.session_id

    def next_id(self) -> int:
        """A fresh message id."""
        self._next_id += 1
        return self._next_id

    async def open(self) -> None:
        """Open the websocket (no hello yet)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        self.ws = await connect(
            self.url,
            additional_headers=headers,
            origin=self.origin,  # type: ignore[arg-type]
            max_size=self.limits.max_message_bytes,
            compression=None,
            proxy=None,
        )

    async def connect(
        self, resume: str | None = None, timeout: float = 10.0, *, watch: str | None = None
    ) -> Welcome:
        """Open the websocket, say hello (resuming `resume`, or watching `watch` read-only, when
        given) and return the welcome. Raises `HandshakeError` when the server refuses."""
        if self.ws is None:
            await self.open()
        await self.send(
            Hello(
                id=self.next_id(),
                version=PROTOCOL_VERSION,
                capabilities=["msgpack" if self.binary else "json"],
                client=self.name,
                resume=resume,
                watch=watch,
            )
        )
        msg = await self.recv(timeout)
        if isinstance(msg, Error):
            raise HandshakeError(msg)
        if not isinstance(msg, Welcome):
            raise ProtocolError(ErrorCode.BAD_STATE, f"expected welcome, got {msg.TYPE}")
        self.welcome = msg
        return msg

    async def send(self, msg: ClientMessage) -> None:
        await self.send_raw(encode(msg, self.binary))

    async def send_raw(self, frame: bytes | str) -> None:
        """Send a frame as it is (tests send malformed ones)."""
        if self.ws is None:
            raise RuntimeError("not connected")
        await self.ws.send(frame)

    async def messages_until(self, deadline: float) -> AsyncIterator[tuple[float, ServerMessage]]:
        """Server messages with their arrival time (time.monotonic()) until `deadline` (on that
        clock) passes or no message comes before it."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                msg = await self.recv(left)
            except TimeoutError:
                return
            yield time.monotonic(), msg

    async def recv(self, timeout: float | None = None) -> ServerMessage:
        """The next server message (messages this client cannot read are skipped). Raises
        TimeoutError, or websockets' ConnectionClosed."""
        if self.ws is None:
            raise RuntimeError("not connected")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            frame = await asyncio.wait_for(self.ws.recv(), left)
            try:
                msg = decode(frame, self.limits, server=True)
            except ProtocolError as e:
                log.info("skipping a server message this client does not know: %s", e)
                continue
            assert isinstance(msg, ServerMessage)
            return msg

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def bye(self) -> None:
        """End the session (no resume) and close."""
        with contextlib.suppress(ConnectionClosed):
            await self.send(Bye(id=self.next_id()))
        await self.close()

    async def __aenter__(self) -> AvatarClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- audio -------------------------------------------------------------------------------------
def load_audio(source: AudioSource) -> tuple[np.ndarray, int]:
    """(float32 (n, channels), rate) from a file (WAV/FLAC/OGG) or an array; more than 8 channels
    are mixed down to mono."""
    if isinstance(source, tuple):
        samples, rate = source
        x = np.asarray(samples, np.float32)
    else:
        import soundfile as sf

        x, rate = sf.read(str(source), dtype="float32", always_2d=True)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] > 8:
        x = x.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(x, np.float32), int(rate)


def audio_chunks(
    samples: np.ndarray,
    rate: int,
    stream: str = "avatar",
    chunk_s: float = 0.04,
    seq0: int = 0,
    sample_format: str = "s16le",
) -> list[Audio]:
    """Cut (n, channels) audio into `audio` messages of `chunk_s` seconds, seq `seq0`, `seq0`+1..."""
    x = np.asarray(samples, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    step = max(1, round(rate * chunk_s))
    return [
        Audio(
            stream=stream,  # type: ignore[arg-type]
            seq=seq0 + i,
            format=sample_format,
            rate=rate,
            channels=x.shape[1],
            data=encode_pcm(x[j : j + step], sample_format),
        )
        for i, j in enumerate(range(0, len(x), step))
    ]


# --- results -----------------------------------------------------------------------------------
@dataclass
class Received:
    """A server message and its arrival time (the client's monotonic clock)."""

    at: float
    msg: ServerMessage


@dataclass
class StreamResult:
    """Everything a streaming run received.

    Attributes:
        welcome: the server's welcome.
        clock_start: when the session clock started (the client's monotonic clock: just before
            the first message after the handshake was sent).
        received: the messages in order of arrival.
    """

    welcome: Welcome
    clock_start: float
    received: list[Received] = field(default_factory=list)

    def of(self, kind: type[M]) -> list[M]:
        return [r.msg for r in self.received if isinstance(r.msg, kind)]

    @property
    def motion(self) -> list[Motion]:
        return self.of(Motion)

    @property
    def avatar_audio(self) -> list[AvatarAudio]:
        return self.of(AvatarAudio)

    @property
    def errors(self) -> list[Error]:
        return self.of(Error)

    @property
    def events(self) -> list[TurnEvent]:
        return self.of(TurnEvent)

    @property
    def stats(self) -> list[Stats]:
        return self.of(Stats)

    @property
    def acks(self) -> list[Ack]:
        return self.of(Ack)

    def frames(self) -> tuple[list[int], list[float], list[str], np.ndarray]:
        """(frame numbers, timestamps, channel names, (frames, channels) values) of all motion."""
        motion = self.motion
        numbers = [m.frame + i for m in motion for i in range(len(m.timestamps))]
        stamps = [t for m in motion for t in m.timestamps]
        names = motion[0].names if motion else []
        values = np.array([row for m in motion for row in m.values], np.float64).reshape(len(numbers), -1)
        return numbers, stamps, names, values

    def lateness(self) -> list[float]:
        """Per motion block: arrival time minus the time its last frame ends on the session clock
        ((frame + n) / fps after `clock_start`): the server's latency beyond the block period."""
        fps = self.welcome.fps
        return [
            r.at - (self.clock_start + (r.msg.frame + len(r.msg.timestamps)) / fps)
            for r in self.received
            if isinstance(r.msg, Motion)
        ]

    def write(self, path: str | Path) -> Path:
        """Write the motion as JSON (`{fps, naming, names, frame_numbers, timestamps, frames}`,
        readable by `models.motion.io.read_motion` for ARKit naming) or CSV (`frame,time,...`)."""
        path = Path(path)
        numbers, stamps, names, values = self.frames()
        naming = self.motion[0].naming if self.motion else None
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["frame", "time", *names])
                for k, t, row in zip(numbers, stamps, values, strict=True):
                    w.writerow([k, f"{t:.3f}", *(f"{v:.6f}" for v in row)])
        elif path.suffix.lower() == ".json":
            doc = {
                "fps": self.welcome.fps,
                "naming": naming,
                "names": names,
                "frame_numbers": numbers,
                "timestamps": stamps,
                "frames": values.tolist(),
            }
            path.write_text(json.dumps(doc))
        else:
            raise ValueError(f"unknown motion file type {path.suffix!r} for {path}; valid: .json, .csv")
        return path


# --- streaming -----------------------------------------------------------------------------------
async def _send_paced(
    client: AvatarClient, chunks: Sequence[Audio], chunk_s: float, start: float, lead_s: float, realtime: bool
) -> None:
    for i, chunk in enumerate(chunks):
        if realtime:
            delay = start + i * chunk_s - lead_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await client.send(dataclasses.replace(chunk, id=client.next_id()))


async def stream_audio(
    url: str,
    avatar: AudioSource,
    user: AudioSource | None = None,
    *,
    token: str | None = None,
    binary: bool = True,
    config: dict[str, Any] | None = None,
    chunk_s: float = 0.04,
    lead_s: float = 0.2,
    tail_s: float = 0.5,
    realtime: bool = True,
    on_message: Callable[[ServerMessage], None] | None = None,
    cues: Sequence[tuple[float, ClientMessage]] = (),
    client: AvatarClient | None = None,
) -> StreamResult:
    """Stream `avatar` (and `user`) audio to a server in real time and collect its output.

    Sends `config` (default: `{"seed": 0}`), `turn avatar_start`, the chunks (each sent `lead_s`
    before its time on the session clock), `turn avatar_stop`; keeps receiving until the clock
    passes the audio's end plus `tail_s`, then says `bye`. `on_message` sees each message as it
    arrives. `cues` are (clock time s, message) pairs sent at those times, e.g.
    `[(1.2, Turn(event="interrupt"))]` (ids are filled in). Pass a connected `client` to reuse it
    (it is then left open, without `bye`)."""
    own = client is None
    if client is None:
        client = AvatarClient(url, token=token, binary=binary)
        await client.connect()
    assert client.welcome is not None
    a, a_rate = load_audio(avatar)
    a_chunks = audio_chunks(a, a_rate, "avatar", chunk_s)
    u_chunks: list[Audio] = []
    duration = len(a) / a_rate
    if user is not None:
        u, u_rate = load_audio(user)
        u_chunks = audio_chunks(u, u_rate, "user", chunk_s)
        duration = max(duration, len(u) / u_rate)

    clock_start = time.monotonic()
    result = StreamResult(client.welcome, clock_start)
    await client.send(Config(id=client.next_id(), config=config if config is not None else {"seed": 0}))
    await client.send(Turn(id=client.next_id(), event="avatar_start"))

    async def send_cues() -> None:
        for at, msg in sorted(cues, key=lambda c: c[0]):
            delay = clock_start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await client.send(dataclasses.replace(msg, id=client.next_id()))

    async def send_all() -> None:
        await asyncio.gather(
            _send_paced(client, a_chunks, chunk_s, clock_start, lead_s, realtime),
            _send_paced(client, u_chunks, chunk_s, clock_start, lead_s, realtime),
            send_cues(),
        )
        await client.send(Turn(id=client.next_id(), event="avatar_stop"))

    sender = asyncio.create_task(send_all())
    end = clock_start + duration + tail_s
    try:
        async for at, msg in client.messages_until(end):
            result.received.append(Received(at, msg))
            if on_message is not None:
                on_message(msg)
    finally:
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await sender
        if own:
            await client.bye()
    return result
