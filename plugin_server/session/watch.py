"""`Watcher`: a read-only view of a session, for overlays and monitors (sans I/O).

A connection whose `hello` has `"watch": "<session_id>"` (or `"*"`: whichever session drives the
server's sinks, following it when that changes) becomes a watcher. It never changes the session:
it receives copies of the session's generated motion (in its own naming), its turn events, and
images rendered for it with its own renderer, size and format (`WatchConfig`, set with `config`
messages). Any number of watchers can follow one session.

Data flow: the server calls `offer(fps, blocks, messages)` after each tick of the watched session
(from the generation thread); the connection's sender calls `pop()` (in a worker thread: it may
render) until it returns None. Everything is bounded: at most `max_messages` motion/event
messages wait (the oldest are dropped), and at most `max_pending_frames` frames wait to be rendered
(older ones are dropped: a stale image is worthless), so a slow watcher never delays generation
or the session's own client.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plugin_server.protocol import (
    Ack,
    Bye,
    ClientMessage,
    Config,
    ErrorCode,
    Motion,
    ProtocolError,
    RenderedFrame,
    ServerMessage,
    TurnEvent,
)
from plugin_server.protocol.config import ArkitSpelling, FrameFormat, Naming, _bad, _strict

from .frames import FrameRenderer, RendererFactory
from .mapping import map_frames

log = logging.getLogger(__name__)

WATCH_OUTPUTS: tuple[str, ...] = ("motion", "frames", "events")
FOLLOW_OWNER = "*"  # watch target: the session the server's sinks follow


@dataclass(frozen=True)
class WatchConfig:
    """What a watcher receives. Same meaning as the session config keys of the same names."""

    outputs: tuple[str, ...] = ("motion", "events")  # subset of WATCH_OUTPUTS
    naming: Naming = "arkit"
    arkit_spelling: ArkitSpelling = "pascal"
    renderer: str = "cartoon"
    renderer_options: dict[str, Any] = field(default_factory=dict)
    frame_format: FrameFormat = "png"

    def __post_init__(self) -> None:
        bad = [o for o in self.outputs if o not in WATCH_OUTPUTS]
        if bad:
            raise _bad(f"a watcher's outputs must be among {list(WATCH_OUTPUTS)}, got {bad}")
        if len(set(self.outputs)) != len(self.outputs):
            raise _bad(f"outputs lists an entry twice: {list(self.outputs)}")

    def wants(self, output: str) -> bool:
        return output in self.outputs

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WatchConfig:
        if not isinstance(d, dict):
            raise _bad("config must be a map")
        cfg: WatchConfig = _strict(cls, d, "watch config")
        return cfg

    def merged(self, changes: dict[str, Any]) -> WatchConfig:
        if not isinstance(changes, dict):
            raise _bad("config must be a map")
        return WatchConfig.from_dict({**self.to_dict(), **changes})


class Watcher:
    """One watching connection's state (see the module doc).

    Args:
        target: the watched session id, or FOLLOW_OWNER.
        renderers: renderer factory for the `frames` output (None: no `frames`).
        max_messages: motion/event messages kept for a slow connection.
        max_pending_frames: frames kept waiting to be rendered.
    """

    def __init__(
        self,
        target: str,
        renderers: RendererFactory | None = None,
        *,
        max_messages: int = 64,
        max_pending_frames: int = 8,
    ) -> None:
        self.target = target
        self.config = WatchConfig()
        self.frame_renderer = FrameRenderer(renderers) if renderers is not None else None
        self._out: deque[ServerMessage] = deque()
        self._frames: deque[tuple[int, float, np.ndarray]] = deque()  # (frame, t, (58,) ARKit)
        self.max_messages = max_messages
        self.max_pending_frames = max_pending_frames
        self._lock = threading.Lock()  # offer: generation thread; pop: a worker; handle: event loop
        self._render_lock = threading.Lock()
        self.closed = False
        self.session_ended = False  # the watched session ended (the connection closes with 4004)
        self.session_id: str | None = None  # the session whose data came last
        self.dropped_messages = 0
        self.dropped_frames = 0
        self.frames_rendered = 0

    def capabilities(self) -> list[str]:
        caps = ["msgpack", "json", "watch", "output:motion", "output:events"]
        if self.frame_renderer is not None:
            caps.append("output:frames")
        return caps + [f"naming:{n}" for n in ("arkit", "vrm", "vrm1", "vts")]

    # --- from the client ----------------------------------------------------------------------
    def handle(self, msg: ClientMessage) -> list[ServerMessage]:
        """A message from the watching client: `config` (its view) or `bye`; others are refused."""
        if isinstance(msg, Bye):
            self.closed = True
            return []
        if not isinstance(msg, Config):
            raise ProtocolError(
                ErrorCode.BAD_STATE, f"a watcher sends only config and bye, not {msg.TYPE}", msg.id
            )
        try:
            new = self.config.merged(msg.config)
        except ProtocolError as e:
            raise ProtocolError(e.code, e.message, msg.id) from None
        if new.wants("frames"):
            if self.frame_renderer is None:
                raise ProtocolError(
                    ErrorCode.UNSUPPORTED,
                    "output 'frames' needs a renderer; this server has none "
                    "(pip install 'avatar-forcing[render]')",
                    msg.id,
                )
            with self._render_lock:
                self.frame_renderer.configure(new.renderer, new.renderer_options, new.frame_format, msg.id)
        with self._lock:
            self.config = new
            if not new.wants("frames"):
                self._frames.clear()
        return [Ack(msg_id=msg.id, of="config", frame=0, config=new.to_dict())]

    # --- from the watched session -------------------------------------------------------------
    def offer(
        self,
        session_id: str,
        fps: int,
        blocks: list[tuple[int, np.ndarray]],
        messages: list[ServerMessage] = (),  # type: ignore[assignment]
    ) -> None:
        """A tick's output of the watched session: its ARKit blocks (first frame, (n, 58)) and the
        messages it sent its own client (turn events are copied)."""
        with self._lock:
            if self.closed:
                return
            self.session_id = session_id
            cfg = self.config
            for k0, frames in blocks:  # frames: (n, 58) ARKit
                n = len(frames)
                if cfg.wants("motion"):
                    names, values = map_frames(frames, cfg.naming, cfg.arkit_spelling)
                    self._put(
                        Motion(
                            frame=k0,
                            fps=fps,
                            timestamps=[(k0 + i) / fps for i in range(n)],
                            naming=cfg.naming,
                            names=names,
                            values=np.round(values.astype(np.float64), 6).tolist(),
                        )
                    )
                if cfg.wants("frames"):
                    for i in range(n):
                        self._frames.append((k0 + i, (k0 + i) / fps, np.array(frames[i], np.float32)))
                    while len(self._frames) > self.max_pending_frames:
                        self._frames.popleft()
                        self.dropped_frames += 1
            if cfg.wants("events"):
                for m in messages:
                    if isinstance(m, TurnEvent):
                        self._put(m)

    def _put(self, msg: ServerMessage) -> None:
        self._out.append(msg)
        while len(self._out) > self.max_messages:
            self._out.popleft()
            self.dropped_messages += 1

    def reply(self, messages: list[ServerMessage]) -> None:
        """Queue replies to the watching client (acks, errors) ahead of the data; never dropped."""
        with self._lock:
            self._out.extendleft(reversed(messages))

    # --- to the client ------------------------------------------------------------------------
    def pending(self) -> bool:
        with self._lock:
            return bool(self._out or self._frames)

    def pop(self) -> ServerMessage | None:
        """The next message for the watching client, or None. Renders a frame when one is next:
        call it off the event loop."""
        with self._lock:
            if self._out:
                return self._out.popleft()
            if not self._frames or self.frame_renderer is None:
                return None
            frame, t, arkit = self._frames.popleft()
        with self._render_lock:
            if self.frame_renderer.renderer is None:
                return None
            ((w, h, fmt, data),) = self.frame_renderer.render(arkit[None])
        self.frames_rendered += 1
        return RenderedFrame(frame=frame, t=t, width=w, height=h, format=fmt, data=data)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._out.clear()
            self._frames.clear()
        with self._render_lock:
            if self.frame_renderer is not None:
                self.frame_renderer.close()
