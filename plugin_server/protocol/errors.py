"""Protocol error codes and the one exception the protocol layer raises.

Every refusal (a frame that does not decode, a message that breaks the schema, a sequence number
out of order, a config value out of range, ...) is a `ProtocolError` with a stable `ErrorCode`, a
human-readable message and, when known, the `id` of the offending client message. The server turns
it into an `error` message and the session goes on, unless the code is fatal (see `FATAL_CODES`).
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Stable, documented error codes (the `code` field of an `error` message)."""

    MALFORMED = "malformed"  # not msgpack / JSON, or not a map at the top level
    TOO_LARGE = "too_large"  # frame bytes over Limits.max_message_bytes (or a list/string too long)
    UNKNOWN_TYPE = "unknown_type"  # `type` names no message of this protocol version
    MISSING_FIELD = "missing_field"  # a required field is absent
    UNKNOWN_FIELD = "unknown_field"  # a field this message type does not have
    WRONG_TYPE = "wrong_type"  # a field's value has the wrong JSON / msgpack type
    BAD_VALUE = "bad_value"  # right type, value out of range or inconsistent
    CHUNK_TOO_LONG = "chunk_too_long"  # audio chunk longer than Limits.max_audio_chunk_s
    UNSUPPORTED_FORMAT = "unsupported_format"  # sample format not s16le / f32le, or channels
    UNSUPPORTED_RATE = "unsupported_rate"  # sample rate outside 8000..96000 Hz
    FORMAT_CHANGED = "format_changed"  # an audio stream changed format without a reset
    SEQUENCE_GAP = "sequence_gap"  # seq skipped ahead: chunk accepted, the gap is lost
    SEQUENCE_REPEAT = "sequence_repeat"  # seq not above the last one: chunk dropped
    VERSION_MISMATCH = "version_mismatch"  # hello with a protocol version this server lacks
    BAD_STATE = "bad_state"  # a message that makes no sense now (e.g. a second hello)
    BAD_CONFIG = "bad_config"  # session config key unknown or value invalid
    UNSUPPORTED = "unsupported"  # a valid request this server cannot serve (no renderer, ...)
    BUFFER_FULL = "buffer_full"  # an input queue is full: the chunk was dropped
    UNKNOWN_SESSION = "unknown_session"  # resume of a session id that does not exist (or expired)
    TOO_MANY_SESSIONS = "too_many_sessions"  # the registry is full
    INTERNAL = "internal"  # a server bug while handling the message; the session goes on


FATAL_CODES: frozenset[ErrorCode] = frozenset(
    {ErrorCode.VERSION_MISMATCH, ErrorCode.UNKNOWN_SESSION, ErrorCode.TOO_MANY_SESSIONS}
)
"""Codes after which the server closes the connection (the handshake failed)."""


class ProtocolError(Exception):
    """A refused frame or message. `msg_id`: the offending client message's `id`, if known."""

    def __init__(self, code: ErrorCode, message: str, msg_id: int | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.msg_id = msg_id

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_CODES

    def with_id(self, msg_id: int | None) -> ProtocolError:
        """The same error, carrying `msg_id` if it had none."""
        if self.msg_id is not None or msg_id is None:
            return self
        return ProtocolError(self.code, self.message, msg_id)

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, msg_id={self.msg_id!r})"
