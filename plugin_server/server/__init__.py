"""The websocket server: a thin asyncio adapter around the sans-I/O session core.

- `app`: `AvatarServer` (connections, the generation thread, /health, graceful shutdown) and
  `ServerConfig`.
- `security`: the bind rule (a token is required off loopback), the token check and the browser
  Origin allow-list.
- `routing`: `SinkRouter`, which feeds the server-level sinks (VMC, VTube Studio, audio, ...)
  from one session at a time.
- `tap`: `TappedSession`, a session that also hands over its ARKit frames for the sinks.
- `local`: the server's own local session (`serve --mic` / `--webcam`): `LocalSessionSpec`.
- `client`: a small asyncio client (`AvatarClient`, `stream_audio`).

See plugin_server/server/README.md.
"""

from .app import (
    CLOSE_HELLO_TIMEOUT,
    CLOSE_RESUMED,
    HEALTH_PATH,
    AvatarServer,
    ServerConfig,
    run_server,
    url_for,
)
from .local import LOCAL_SESSION_ID, LocalSession, LocalSessionSpec
from .routing import SinkRouter
from .security import (
    DEFAULT_ORIGINS,
    InsecureBindError,
    check_bind,
    is_loopback,
    origin_allowed,
    request_token,
    token_ok,
)
from .tap import TappedSession

__all__ = [
    "CLOSE_HELLO_TIMEOUT",
    "CLOSE_RESUMED",
    "DEFAULT_ORIGINS",
    "HEALTH_PATH",
    "LOCAL_SESSION_ID",
    "AvatarServer",
    "InsecureBindError",
    "LocalSession",
    "LocalSessionSpec",
    "ServerConfig",
    "SinkRouter",
    "TappedSession",
    "check_bind",
    "is_loopback",
    "origin_allowed",
    "request_token",
    "run_server",
    "token_ok",
    "url_for",
]
