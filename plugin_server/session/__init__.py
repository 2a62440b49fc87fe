"""Sans-I/O session core: buffers, clocks, turn state, block scheduling, resumable sessions.

`Session` drives one `models.stream.AvatarStream` from protocol messages and a clock passed in;
`batching.tick_sessions` ticks several sessions at once, their compatible generator steps batched;
`frames.FrameRenderer` renders and encodes the `frames` output; `watch.Watcher` is a read-only
view of a session (an overlay); `SessionRegistry` keeps sessions by id for resume; `mapping`
turns ARKit frames into VRM and VTube Studio parameters. Adapters (the websocket server, tests)
own all I/O and real time.
"""

from .batching import TickReport, tick_sessions
from .frames import FrameRenderer, RendererFactory
from .mapping import map_frames, output_names
from .outbox import Outbox
from .registry import SessionRegistry
from .session import ModelFactory, PendingBlock, Session, SessionLimits, Tracker

__all__ = [
    "FrameRenderer",
    "ModelFactory",
    "Outbox",
    "PendingBlock",
    "RendererFactory",
    "Session",
    "SessionLimits",
    "SessionRegistry",
    "TickReport",
    "Tracker",
    "map_frames",
    "output_names",
    "tick_sessions",
]
