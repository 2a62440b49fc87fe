"""Sinks a session asks for in its own config (`"sinks": [{"name": "vmc", "port": 39540}]`).

The server's `--sink` sinks follow one session (`routing.SinkRouter`); a session's own sinks
follow only that session: a Unity client can ask the service to also drive a VMC receiver, or a
video-call client the virtual camera, without flags on the server. `SessionSinks`:

- `check(specs)` (called by the session core while it checks a config): names must be registered
  sinks this server allows (`allowed`), options must be the sink's; each sink is constructed to
  validate it, not started. Errors are `ProtocolError`s (`bad_config` or `unsupported`) naming
  what was wrong, so a bad config is refused as a whole and the old one stays.
- `sync(session)` (after a config was accepted): when the session's `sinks` changed, stop its old
  router and start a new one (its own `SinkRouter`, owner = the session) in a worker thread.
- `offer(...)` after each tick, `close(session_id)` when the session ends.

Which sinks clients may ask for is the server's choice (`serve --session-sinks`): by default the
loopback-only server allows all of them (the client runs on the same machine as its speakers,
camera and VMC apps); a server reachable from other machines allows none unless told.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import numpy as np

from plugin_server.protocol import ErrorCode, ProtocolError, ServerMessage
from plugin_server.sinks import SinkError, SinkUnavailableError, available_sinks, create_sink

from .routing import SinkRouter

log = logging.getLogger(__name__)


def _spec_key(specs: list[dict[str, Any]]) -> str:
    return json.dumps(specs, sort_keys=True, default=str)


def _split(spec: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ProtocolError(ErrorCode.BAD_CONFIG, 'each entry of sinks must be a map with a "name" string')
    options = {k: v for k, v in spec.items() if k != "name"}
    return spec["name"], options


class SessionSinks:
    """The sessions' own sinks (see the module doc). `allowed`: sink names clients may use."""

    def __init__(self, allowed: frozenset[str] | None = None) -> None:
        self.allowed = frozenset(available_sinks()) if allowed is None else frozenset(allowed)
        self._routers: dict[str, tuple[str, SinkRouter]] = {}
        self._lock = threading.Lock()

    def check(self, specs: list[dict[str, Any]]) -> None:
        """Validate a config's `sinks` (constructs each sink, starts none)."""
        names = []
        for spec in specs:
            name, options = _split(spec)
            key = name.strip().lower().replace("-", "_")
            if key not in self.allowed:
                valid = ", ".join(sorted(self.allowed)) or "none"
                raise ProtocolError(
                    ErrorCode.BAD_CONFIG, f"sink {name!r} is not available to clients here; allowed: {valid}"
                )
            sink = self._create(name, options)
            names.append(sink.name)
        if len(set(names)) != len(names):
            raise ProtocolError(ErrorCode.BAD_CONFIG, f"sinks lists a sink twice: {names}")

    @staticmethod
    def _create(name: str, options: dict[str, Any]) -> Any:
        try:
            return create_sink(name, **options)
        except SinkUnavailableError as e:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"sink {name!r}: {e}") from None
        except (SinkError, TypeError, ValueError) as e:
            raise ProtocolError(ErrorCode.BAD_CONFIG, f"sink {name!r}: {e}") from None

    async def sync(self, session_id: str, specs: list[dict[str, Any]]) -> None:
        """Run exactly the sinks `specs` for `session_id` (no-op when unchanged)."""
        key = _spec_key(specs)
        with self._lock:
            current = self._routers.get(session_id)
        if (current[0] if current else _spec_key([])) == key:
            return
        await self.close(session_id)
        if not specs:
            return
        sinks = [self._create(*_split(spec)) for spec in specs]
        router = SinkRouter(sinks)
        router.set_owner(session_id)
        await asyncio.to_thread(router.start)
        with self._lock:
            self._routers[session_id] = (key, router)
        log.info("session %s: own sinks %s", session_id, ", ".join(s.name for s in sinks))

    def offer(
        self, session_id: str, fps: int, blocks: list[tuple[int, np.ndarray]], messages: list[ServerMessage]
    ) -> None:
        with self._lock:
            entry = self._routers.get(session_id)
        if entry is not None:
            entry[1].offer(session_id, fps, blocks, messages)

    async def close(self, session_id: str) -> None:
        with self._lock:
            entry = self._routers.pop(session_id, None)
        if entry is not None:
            await asyncio.to_thread(entry[1].stop)

    async def close_all(self) -> None:
        for sid in list(self._routers):
            await self.close(sid)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {sid: router.stats() for sid, (_, router) in self._routers.items()}
