"""The versioned wire protocol of the avatar service (docs/protocol.md).

Messages are maps with a `type`: msgpack on binary websocket frames, the same schema as JSON on
text frames. This package is pure data: dataclasses for every message, a strict codec, PCM
helpers, sequence tracking and the session config. It does no I/O.
"""

from .codec import decode, encode
from .config import NAMINGS, OUTPUTS, VADS, BlinkConfig, SessionConfig
from .errors import FATAL_CODES, ErrorCode, ProtocolError
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    CLIENT_MESSAGES,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    Ack,
    Audio,
    AvatarAudio,
    Bye,
    ClientMessage,
    Config,
    Control,
    Error,
    Hello,
    Message,
    Motion,
    RenderedFrame,
    ServerMessage,
    Stats,
    Turn,
    TurnEvent,
    UserMotion,
    UserVideo,
    Welcome,
)
from .pcm import MAX_RATE, MIN_RATE, SAMPLE_FORMATS, decode_pcm, encode_pcm
from .sequence import SequenceTracker

__all__ = [
    "CLIENT_MESSAGES",
    "DEFAULT_LIMITS",
    "FATAL_CODES",
    "MAX_RATE",
    "MESSAGE_TYPES",
    "MIN_RATE",
    "NAMINGS",
    "OUTPUTS",
    "PROTOCOL_VERSION",
    "SAMPLE_FORMATS",
    "SERVER_MESSAGES",
    "VADS",
    "Ack",
    "Audio",
    "AvatarAudio",
    "BlinkConfig",
    "Bye",
    "ClientMessage",
    "Config",
    "Control",
    "Error",
    "ErrorCode",
    "Hello",
    "Limits",
    "Message",
    "Motion",
    "ProtocolError",
    "RenderedFrame",
    "SequenceTracker",
    "ServerMessage",
    "SessionConfig",
    "Stats",
    "Turn",
    "TurnEvent",
    "UserMotion",
    "UserVideo",
    "Welcome",
    "decode",
    "decode_pcm",
    "encode",
    "encode_pcm",
]
