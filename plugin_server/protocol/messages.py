"""Every message of the protocol, as frozen dataclasses.

A message on the wire is a map with a `type` string and the fields below (see docs/protocol.md).
Client messages may carry an `id` (integer, chosen by the client) that errors and acks refer to.
Field types are checked by `schema.build` when a frame is decoded; `validate(limits)` adds the
checks that need more than a type (ranges, sizes, formats).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from .errors import ErrorCode, ProtocolError
from .limits import Limits
from .pcm import check_format, duration_s, pcm_frames

PROTOCOL_VERSION = 1
"""Major protocol version: bumped only by breaking changes (see docs/protocol.md, Versioning)."""

TurnCue = Literal["user_start", "user_stop", "avatar_start", "avatar_stop", "interrupt"]
TurnEventName = Literal["user_started", "user_stopped", "avatar_started", "avatar_stopped", "interrupted"]
TurnStateName = Literal["idle", "avatar_speaking", "user_speaking", "both"]
ControlAction = Literal["pause", "resume", "reset"]
AudioStreamName = Literal["avatar", "user"]
IMAGE_FORMATS: tuple[str, ...] = ("jpeg", "png", "rgb24", "rgba32")


@dataclass(frozen=True, kw_only=True)
class Message:
    """Base of every message; `TYPE` is the wire `type`."""

    TYPE: ClassVar[str] = ""
    FROM_CLIENT: ClassVar[bool] = True

    def validate(self, limits: Limits) -> None:
        """Checks beyond field types; raises ProtocolError."""

    def to_dict(self) -> dict[str, Any]:
        """Wire map (bytes stay bytes; the codec base64-encodes them for JSON)."""
        out: dict[str, Any] = {"type": self.TYPE}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


# --- client -> server ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClientMessage(Message):
    id: int | None = None  # client-chosen message id, echoed in acks and errors

    def validate(self, limits: Limits) -> None:
        if self.id is not None and self.id < 0:
            raise ProtocolError(ErrorCode.BAD_VALUE, f"{self.TYPE}.id must be >= 0", self.id)


@dataclass(frozen=True, kw_only=True)
class Hello(ClientMessage):
    """First message of a connection: protocol version, what the client can do, and optionally the
    id of a session to resume, or of a session to watch (read-only: an overlay, a monitor)."""

    TYPE: ClassVar[str] = "hello"
    version: int
    capabilities: list[str] = field(default_factory=list)
    client: str = ""  # free-form client name/version, for logs
    resume: str | None = None  # session id from an earlier `welcome`
    watch: str | None = None  # session id to watch, or "*": whichever session drives the sinks


@dataclass(frozen=True, kw_only=True)
class Config(ClientMessage):
    """Session configuration: the given keys are merged into the current config (defaults at
    first). Changes take effect at the next block."""

    TYPE: ClassVar[str] = "config"
    config: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Control(ClientMessage):
    TYPE: ClassVar[str] = "control"
    action: ControlAction


@dataclass(frozen=True, kw_only=True)
class Audio(ClientMessage):
    """A chunk of PCM for the avatar's voice or the user's microphone."""

    TYPE: ClassVar[str] = "audio"
    stream: AudioStreamName
    seq: int  # per stream, strictly increasing by 1
    format: str  # "s16le" | "f32le"
    rate: int  # Hz, 8000..96000
    channels: int = 1  # interleaved when > 1
    data: bytes

    def validate(self, limits: Limits) -> None:
        super().validate(limits)
        if self.seq < 0:
            raise ProtocolError(ErrorCode.BAD_VALUE, "audio.seq must be >= 0", self.id)
        check_format(self.format, self.rate, self.channels, self.id)
        pcm_frames(len(self.data), self.format, self.channels, self.id)
        if self.format == "f32le" and not np.isfinite(np.frombuffer(self.data, "<f4")).all():
            raise ProtocolError(
                ErrorCode.BAD_VALUE, "float32 audio contains NaN or infinite samples", self.id
            )
        seconds = duration_s(len(self.data), self.format, self.rate, self.channels)
        if seconds > limits.max_audio_chunk_s:
            raise ProtocolError(
                ErrorCode.CHUNK_TOO_LONG,
                f"audio chunk of {seconds:.3f} s is longer than {limits.max_audio_chunk_s:g} s",
                self.id,
            )


@dataclass(frozen=True, kw_only=True)
class UserMotion(ClientMessage):
    """The user's face, tracked on the client: frames at the session fps, ARKit channels.

    `names` (any ARKit spelling, head pose channels included) gives the column order; without it
    every frame holds all 58 channels in canonical order. Channels not named are neutral."""

    TYPE: ClassVar[str] = "user_motion"
    seq: int
    frames: list[list[float]]
    names: list[str] | None = None

    def validate(self, limits: Limits) -> None:
        super().validate(limits)
        from models.motion.arkit import ARKIT_DIM, canonical_name

        if self.seq < 0:
            raise ProtocolError(ErrorCode.BAD_VALUE, "user_motion.seq must be >= 0", self.id)
        if len(self.frames) > limits.max_motion_frames:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"more than {limits.max_motion_frames} frames in one message", self.id
            )
        width = ARKIT_DIM
        if self.names is not None:
            seen: set[str] = set()
            for n in self.names:
                try:
                    c = canonical_name(n)
                except KeyError as e:
                    raise ProtocolError(
                        ErrorCode.BAD_VALUE, f"user_motion.names: {e.args[0]}", self.id
                    ) from None
                if c in seen:
                    raise ProtocolError(ErrorCode.BAD_VALUE, f"user_motion.names: {n!r} given twice", self.id)
                seen.add(c)
            width = len(self.names)
        for i, row in enumerate(self.frames):
            if len(row) != width:
                raise ProtocolError(
                    ErrorCode.BAD_VALUE,
                    f"user_motion.frames[{i}] has {len(row)} values, expected {width}",
                    self.id,
                )


@dataclass(frozen=True, kw_only=True)
class UserVideo(ClientMessage):
    """One camera frame of the user, for server-side face tracking."""

    TYPE: ClassVar[str] = "user_video"
    seq: int
    width: int
    height: int
    format: str  # "jpeg" | "png" | "rgb24" | "rgba32"
    data: bytes

    def validate(self, limits: Limits) -> None:
        super().validate(limits)
        if self.seq < 0:
            raise ProtocolError(ErrorCode.BAD_VALUE, "user_video.seq must be >= 0", self.id)
        if self.format not in IMAGE_FORMATS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"image format {self.format!r} is not supported; valid: {list(IMAGE_FORMATS)}",
                self.id,
            )
        if not (1 <= self.width <= 4096 and 1 <= self.height <= 4096):
            raise ProtocolError(ErrorCode.BAD_VALUE, "user_video width and height must be 1..4096", self.id)
        raw = {"rgb24": 3, "rgba32": 4}.get(self.format)
        if raw is not None and len(self.data) != self.width * self.height * raw:
            raise ProtocolError(
                ErrorCode.BAD_VALUE,
                f"{self.format} frame of {self.width}x{self.height} needs {self.width * self.height * raw} "
                f"bytes, got {len(self.data)}",
                self.id,
            )


@dataclass(frozen=True, kw_only=True)
class Turn(ClientMessage):
    """A turn cue from the client (its own VAD / dialogue manager)."""

    TYPE: ClassVar[str] = "turn"
    event: TurnCue


@dataclass(frozen=True, kw_only=True)
class Bye(ClientMessage):
    """End the session now (no resume grace period)."""

    TYPE: ClassVar[str] = "bye"


# --- server -> client ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServerMessage(Message):
    FROM_CLIENT: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class Welcome(ServerMessage):
    TYPE: ClassVar[str] = "welcome"
    version: int
    session_id: str
    resumed: bool
    capabilities: list[str]
    fps: int
    config: dict[str, Any]  # the effective session config
    limits: dict[str, Any]  # wire and session limits
    resume_grace_s: float


@dataclass(frozen=True, kw_only=True)
class Ack(ServerMessage):
    """A `config` or `control` message was accepted; it affects frames from `frame` on."""

    TYPE: ClassVar[str] = "ack"
    msg_id: int | None
    of: str  # the acknowledged message's type
    frame: int
    config: dict[str, Any] | None = None  # the effective config after a `config` message


@dataclass(frozen=True, kw_only=True)
class Motion(ServerMessage):
    """One block of generated motion: frame `frame + i` at `timestamps[i] = (frame + i) / fps`
    seconds on the avatar-audio clock; `values[i][j]` is channel `names[j]`."""

    TYPE: ClassVar[str] = "motion"
    frame: int
    fps: int
    timestamps: list[float]
    naming: str
    names: list[str]
    values: list[list[float]]


@dataclass(frozen=True, kw_only=True)
class AvatarAudio(ServerMessage):
    """The avatar's audio for motion frames `frame .. frame + frames - 1`, re-emitted in step with
    the motion (same clock: sample 0 plays at `t = frame / fps`)."""

    TYPE: ClassVar[str] = "avatar_audio"
    frame: int
    frames: int
    t: float
    format: str
    rate: int
    channels: int
    data: bytes


@dataclass(frozen=True, kw_only=True)
class RenderedFrame(ServerMessage):
    TYPE: ClassVar[str] = "rendered_frame"
    frame: int
    t: float
    width: int
    height: int
    format: str
    data: bytes


@dataclass(frozen=True, kw_only=True)
class TurnEvent(ServerMessage):
    """A change of turn state, from a client cue or detected by the server. `t` / `frame`: the
    first frame the new state applies to."""

    TYPE: ClassVar[str] = "turn_event"
    event: TurnEventName
    state: TurnStateName
    source: Literal["client", "server"]
    frame: int
    t: float


@dataclass(frozen=True, kw_only=True)
class Stats(ServerMessage):
    """Periodic session statistics (counters are totals since the session began)."""

    TYPE: ClassVar[str] = "stats"
    t: float  # avatar-audio clock, seconds
    frames_generated: int
    blocks_generated: int
    late_blocks: int  # blocks generated more than one block period after they were due
    skipped_frames: int  # frames never generated because the session fell too far behind
    dropped_frames: int  # generated frames a slow client never received (outbox overflow)
    dropped_messages: int
    avatar_audio_dropped_s: float  # barge-in, mute after interrupt, buffer overflow
    errors: int
    rtf: float  # compute seconds / generated seconds over the last interval (< 1: real time)
    block_ms: float  # mean compute time of one block over the last interval
    queues: dict[str, float]  # depths of the bounded queues
    batched_blocks: int = 0  # blocks generated in one forward pass with other sessions' blocks


@dataclass(frozen=True, kw_only=True)
class Error(ServerMessage):
    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    msg_id: int | None = None
    fatal: bool = False

    @classmethod
    def from_exception(cls, e: ProtocolError) -> Error:
        return cls(code=e.code.value, message=e.message, msg_id=e.msg_id, fatal=e.fatal)


CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    c.TYPE: c for c in (Hello, Config, Control, Audio, UserMotion, UserVideo, Turn, Bye)
}
SERVER_MESSAGES: dict[str, type[ServerMessage]] = {
    c.TYPE: c for c in (Welcome, Ack, Motion, AvatarAudio, RenderedFrame, TurnEvent, Stats, Error)
}
MESSAGE_TYPES: dict[str, type[Message]] = {**CLIENT_MESSAGES, **SERVER_MESSAGES}
