"""Sans-I/O session core: buffers, clocks, turn state, block scheduling, resumable sessions.

`Session` drives one `models.stream.AvatarStream` from protocol messages and a clock passed in;
`SessionRegistry` keeps sessions by id for resume; `mapping` turns ARKit frames into VRM and
VTube Studio parameters. Adapters (the websocket server, tests) own all I/O and real time.
"""

from .mapping import map_frames, output_names
from .outbox import Outbox
from .registry import SessionRegistry
from .session import ModelFactory, Renderer, Session, SessionLimits, Tracker

__all__ = [
    "ModelFactory",
    "Outbox",
    "Renderer",
    "Session",
    "SessionLimits",
    "SessionRegistry",
    "Tracker",
    "map_frames",
    "output_names",
]
