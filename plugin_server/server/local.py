"""The server's local session (`serve --mic`, `serve --webcam`): one session owned by the server.

- The server opens it at start, under a fixed id (`LOCAL_SESSION_ID`, "local"), before any client;
  it is the oldest session, so the `--sink` sinks follow it.
- Its **user side comes from local capture sources** (`plugin_server.capture`): the microphone as
  the user audio, the webcam as the user motion. A server task polls them every few ms and hands
  what they captured to `Session.handle` as ordinary `audio` / `user_motion` messages, so the
  session resamples, queues, sequence-checks and counts them exactly as a client's.
- Its **avatar side comes from websocket clients** that attach to it with
  `hello {"resume": "local"}` (the protocol's resume): they send the avatar's voice (and cues,
  config) and receive the motion. When no client is attached, the server ticks the session
  itself: the clock keeps running (it is not frozen as a detached client session is), the avatar
  listens to the microphone, and the sinks get its motion.
- A client that leaves (or sends `bye`) only detaches from it; the session lives as long as the
  server. A new client takes it over like any resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plugin_server.capture.base import CaptureSource
from plugin_server.protocol import Bye, Message, ServerMessage, SessionConfig

from .tap import TappedSession

LOCAL_SESSION_ID = "local"


@dataclass(frozen=True)
class LocalSessionSpec:
    """What the server's local session is made of.

    Attributes:
        sources: capture sources feeding its user side (started with the server, stopped with it).
        session_id: the id clients attach with (`hello.resume`).
        config: its initial config (the defaults when None); attached clients may change it.
        poll_interval_s: how often the sources are polled (and the session ticked when no client
            is attached).
    """

    sources: Sequence[CaptureSource] = ()
    session_id: str = LOCAL_SESSION_ID
    config: SessionConfig | None = None
    poll_interval_s: float = 0.01

    def __post_init__(self) -> None:
        if not 0.001 <= self.poll_interval_s <= 0.04:
            raise ValueError("poll_interval_s must be within 0.001..0.04 s (a block is 40 ms or more)")
        if not self.session_id:
            raise ValueError("the local session needs an id")


class LocalSession(TappedSession):
    """A `TappedSession` owned by the server: a client's `bye` detaches the client, never ends it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bye_requested = False

    def take_bye(self) -> bool:
        """True once after a client sent `bye`."""
        bye, self.bye_requested = self.bye_requested, False
        return bye

    def handle(self, msg: Message, now: float) -> list[ServerMessage]:
        if isinstance(msg, Bye) and not self.closed:
            self.bye_requested = True
            self.log.info("bye from the attached client: detaching it (the local session goes on)")
            return []
        return super().handle(msg, now)
