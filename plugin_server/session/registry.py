"""`SessionRegistry`: sessions by id, the handshake, and resume within a grace period. Sans I/O.

An adapter calls `open(hello, now)` for a connection's first message: a new session, or with
`hello.resume` set, the detached (or still attached: a half-open connection) session of that id.
When the connection drops it calls `detach(id, now)`; the session's clock freezes and the session
waits `grace_s` for a `resume`. `expire(now)` (call it now and then) closes sessions whose grace
period is over. `bye` / `close` end a session at once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from plugin_server.protocol import PROTOCOL_VERSION, ErrorCode, Hello, ProtocolError, ServerMessage

from .session import Session

log = logging.getLogger(__name__)

SessionFactory = Callable[[str, float], Session]
"""(session id, now) -> a new Session."""


class SessionRegistry:
    def __init__(
        self,
        factory: SessionFactory,
        grace_s: float = 30.0,
        max_sessions: int = 8,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(12),
    ) -> None:
        self.factory = factory
        self.grace_s = grace_s
        self.max_sessions = max_sessions
        self._new_id = new_id
        self._sessions: dict[str, Session] = {}
        self._deadlines: dict[str, float] = {}  # detached session id -> expiry time

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def open(self, hello: Hello, now: float) -> tuple[Session, list[ServerMessage]]:
        """Handshake: returns the session and the messages to send (the `welcome`). Raises
        ProtocolError (version_mismatch, unknown_session, too_many_sessions: all fatal)."""
        if hello.version != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.VERSION_MISMATCH,
                f"protocol version {hello.version} is not supported; this server speaks {PROTOCOL_VERSION}",
                hello.id,
            )
        if hello.resume is not None:
            session = self.resume(hello.resume, now, hello.id)
            return session, [session.welcome(True, self.grace_s)]
        self.expire(now)
        if len(self._sessions) >= self.max_sessions:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SESSIONS,
                f"the server holds {self.max_sessions} sessions already",
                hello.id,
            )
        sid = self._new_id()
        while sid in self._sessions:
            sid = self._new_id()
        session = self.factory(sid, now)
        session.attach(now)
        self._sessions[sid] = session
        session.log.info("opened by client %r (capabilities %s)", hello.client, hello.capabilities)
        return session, [session.welcome(False, self.grace_s)]

    def add(self, session: Session, now: float) -> Session:
        """Hold a session made by its owner (the server's local session) under its own id,
        attached; clients resume it like any other. Raises ValueError when the id is taken."""
        if session.id in self._sessions:
            raise ValueError(f"a session {session.id!r} exists already")
        session.attach(now)
        self._sessions[session.id] = session
        return session

    def detach(self, session_id: str, now: float) -> None:
        """The connection of `session_id` dropped: keep the session for `grace_s`."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        if session.closed:
            self.close(session_id)
            return
        session.detach(now)
        self._deadlines[session_id] = now + self.grace_s

    def resume(self, session_id: str, now: float, msg_id: int | None = None) -> Session:
        """Reattach a session within its grace period (a still-attached one is taken over: its
        old adapter sees `session.connection` change and stops)."""
        self.expire(now)
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            raise ProtocolError(
                ErrorCode.UNKNOWN_SESSION,
                f"no session {session_id[:64]!r} to resume (expired or unknown)",
                msg_id,
            )
        self._deadlines.pop(session_id, None)
        session.attach(now)
        return session

    def expire(self, now: float) -> list[str]:
        """Close detached sessions whose grace period is over, and drop sessions ended by `bye`;
        returns their ids."""
        gone = [sid for sid, deadline in self._deadlines.items() if now > deadline]
        for sid in gone:
            log.info(
                "[session %s] expired after %.1f s detached", sid, self.grace_s, extra={"session_id": sid}
            )
            self.close(sid)
        ended = [sid for sid, s in self._sessions.items() if s.closed]
        for sid in ended:
            self.close(sid)
        return gone + ended

    def close(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        self._deadlines.pop(session_id, None)
        if session is not None and not session.closed:
            session.close()
