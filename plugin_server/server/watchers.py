"""`WatchHub`: the server's watching connections (`hello {"watch": ...}`), e.g. the OBS overlay.

The read-only view itself is the sans-I/O `plugin_server.session.watch.Watcher`; this module moves
its bytes: it opens watchers on `hello`, hands each watched session's tick output to them
(`notify`, from any thread), runs one connection's receive and send loops, and closes the
watchers of a session that ended. A watcher of `"*"` follows the session the sinks follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from plugin_server.protocol import (
    PROTOCOL_VERSION,
    Error,
    ErrorCode,
    Hello,
    Limits,
    ProtocolError,
    ServerMessage,
    Welcome,
    decode,
    encode,
)
from plugin_server.session.frames import RendererFactory
from plugin_server.session.watch import FOLLOW_OWNER, Watcher

log = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4004


@dataclass(eq=False)
class WatchConnection:
    ws: ServerConnection
    watcher: Watcher
    binary: bool
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def poke(self) -> None:
        """Wake the sender (thread-safe)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(self.wake.set)


class WatchHub:
    """Watching connections by target (see the module doc)."""

    def __init__(
        self,
        renderers: RendererFactory | None,
        limits: Limits,
        *,
        fps: int = 25,
        max_watchers: int = 32,
        send_timeout_s: float = 10.0,
    ) -> None:
        self.renderers = renderers
        self.limits = limits
        self.fps = fps
        self.max_watchers = max_watchers
        self.send_timeout_s = send_timeout_s
        self._conns: set[WatchConnection] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._conns)

    def open(
        self, hello: Hello, ws: ServerConnection, binary: bool, exists: Callable[[str], bool]
    ) -> WatchConnection:
        """A watching connection for `hello.watch`; raises ProtocolError (fatal for an unknown
        session, so the client retries later)."""
        target = hello.watch
        assert target is not None
        if hello.resume is not None:
            raise ProtocolError(ErrorCode.BAD_VALUE, "hello takes resume or watch, not both", hello.id)
        if target != FOLLOW_OWNER and not exists(target):
            raise ProtocolError(
                ErrorCode.UNKNOWN_SESSION,
                f"no session {target[:64]!r} to watch (not started yet, or ended)",
                hello.id,
            )
        with self._lock:
            if len(self._conns) >= self.max_watchers:
                raise ProtocolError(
                    ErrorCode.TOO_MANY_SESSIONS,
                    f"this server takes at most {self.max_watchers} watchers",
                    hello.id,
                )
            conn = WatchConnection(ws, Watcher(target, self.renderers), binary, asyncio.get_running_loop())
            self._conns.add(conn)
        return conn

    def welcome(self, conn: WatchConnection) -> Welcome:
        return Welcome(
            version=PROTOCOL_VERSION,
            session_id=conn.watcher.target,
            resumed=False,
            capabilities=conn.watcher.capabilities(),
            fps=self.fps,
            config=conn.watcher.config.to_dict(),
            limits=self.limits.to_dict(),
            resume_grace_s=0.0,
        )

    def notify(
        self,
        session_id: str,
        owner: str | None,
        fps: int,
        blocks: list[tuple[int, np.ndarray]],
        messages: list[ServerMessage],
    ) -> None:
        """A tick's output of `session_id` (`owner`: the session the sinks follow). Any thread."""
        if not blocks and not messages:
            return
        with self._lock:
            conns = [
                c
                for c in self._conns
                if c.watcher.target == session_id
                or (c.watcher.target == FOLLOW_OWNER and owner == session_id)
            ]
        for conn in conns:
            try:
                conn.watcher.offer(session_id, fps, blocks, messages)
            except Exception:
                log.exception("watcher of %s: offer failed", session_id)
            conn.poke()

    def session_ended(self, session_id: str) -> None:
        """Close the connections that watch `session_id` by name (event loop)."""
        with self._lock:
            conns = [c for c in self._conns if c.watcher.target == session_id]
        for conn in conns:
            conn.watcher.session_ended = True
            conn.watcher.closed = True
            conn.poke()

    async def close_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.watcher.closed = True
            conn.poke()

    def stats(self) -> dict[str, object]:
        with self._lock:
            conns = list(self._conns)
        return {
            "watchers": len(conns),
            "targets": sorted({c.watcher.target for c in conns}),
            "frames_rendered": sum(c.watcher.frames_rendered for c in conns),
            "dropped_frames": sum(c.watcher.dropped_frames for c in conns),
        }

    # --- one connection ---------------------------------------------------------------------
    async def run(self, conn: WatchConnection) -> None:
        """Serve a watching connection until it or its session ends."""
        ws, watcher = conn.ws, conn.watcher
        log.info("watcher %s of %r connected", ws.remote_address, watcher.target)
        sender = asyncio.create_task(self._send_loop(conn))
        try:
            async for frame in ws:
                if sender.done():
                    break
                try:
                    msg = decode(frame, self.limits)
                    if isinstance(msg, Hello):
                        raise ProtocolError(ErrorCode.BAD_STATE, "hello was already sent", msg.id)
                    replies = await asyncio.to_thread(watcher.handle, msg)  # may load a renderer
                except ProtocolError as e:
                    replies = [Error.from_exception(e)]
                watcher.reply(replies)
                conn.poke()
                if watcher.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            watcher.closed = True
            conn.poke()
            with contextlib.suppress(Exception):
                await sender
            with self._lock:
                self._conns.discard(conn)
            watcher.close()
        log.info("watcher %s of %r left", ws.remote_address, watcher.target)

    async def _send_loop(self, conn: WatchConnection) -> None:
        ws, watcher = conn.ws, conn.watcher
        while True:
            if watcher.closed and not watcher.pending():
                code, reason = (
                    (1000, "bye") if not watcher.session_ended else (CLOSE_SESSION_ENDED, "session ended")
                )
                with contextlib.suppress(Exception):
                    await ws.close(code, reason)
                return
            try:
                msg = await asyncio.to_thread(watcher.pop)  # may render an image
            except Exception:
                log.exception("watcher of %r: rendering failed", watcher.target)
                msg = None
            if msg is None:
                conn.wake.clear()
                if not watcher.pending() and not watcher.closed:
                    await conn.wake.wait()
                continue
            try:
                await asyncio.wait_for(ws.send(encode(msg, conn.binary)), self.send_timeout_s)
            except (TimeoutError, ConnectionClosed):
                watcher.closed = True
                ws.transport.abort()
                return
            except ProtocolError:
                log.exception("watcher of %r: cannot encode a %s message", watcher.target, msg.TYPE)
