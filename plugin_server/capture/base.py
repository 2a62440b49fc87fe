"""What every capture source offers the server's local session (`CaptureSource`), and its errors.

A source is a thin adapter between a device and the session core: a device thread or callback
puts what it captured into a bounded drop-oldest queue (never blocking the device), and the
server's local-session task calls `poll()` every few milliseconds to turn what is queued into
protocol messages (`audio`, `user_motion`), which it hands to `Session.handle` exactly as if a
client had sent them. Sequence numbers come from the capture clock, so a chunk lost to a full
queue shows up in the session as an ordinary `sequence_gap`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from plugin_server.protocol import ClientMessage
from plugin_server.sinks.base import SinkUnavailableError

WEBCAM_HINT = "install the webcam extra: pip install 'avatar-forcing[webcam]'"


class CaptureUnavailableError(SinkUnavailableError):
    """A capture device or package is missing; the message names the fix (a `SinkError`, so the
    CLI reports it like an unavailable sink)."""


@runtime_checkable
class CaptureSource(Protocol):
    """A local input of the server's local session (`--mic`, `--webcam`)."""

    name: str

    def start(self) -> None:
        """Open the device; raises `CaptureUnavailableError` (or `SinkUnavailableError`) with the fix."""
        ...

    def stop(self) -> None:
        """Close the device; idempotent."""
        ...

    def poll(self) -> list[ClientMessage]:
        """Everything captured since the last call, as client messages; never blocks."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for /health (captured, dropped, ...)."""
        ...
