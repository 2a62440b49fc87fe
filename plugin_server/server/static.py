"""Static files the service serves over plain HTTP: the OBS overlay page (`obs_integration/`).

`GET /overlay` answers `obs_integration/overlay.html`; `GET /overlay/<file>` answers one file of
that folder (flat names, known types only). Websocket upgrades on any path are left to the
websocket handler; other paths are not served here.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

OVERLAY_PATH = "/overlay"
OVERLAY_PAGE = "overlay.html"
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


def overlay_dir() -> Path | None:
    """The `obs_integration` folder (a package, so it ships in wheels too), or None if absent."""
    try:
        import obs_integration
    except ImportError:
        return None
    return Path(obs_integration.__file__).resolve().parent


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _not_found(what: str) -> Response:
    return _response(HTTPStatus.NOT_FOUND, f"{what}\n".encode(), "text/plain; charset=utf-8")


def static_response(request: Request, path: str) -> Response | None:
    """The response for a plain-HTTP `GET` of an overlay file; None when `path` is not ours or the
    request is a websocket upgrade."""
    if path != OVERLAY_PATH and not path.startswith(OVERLAY_PATH + "/"):
        return None
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    name = path[len(OVERLAY_PATH) :].lstrip("/") or OVERLAY_PAGE
    suffix = Path(name).suffix.lower()
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in CONTENT_TYPES:
        return _not_found(f"no overlay file {name!r}")
    folder = overlay_dir()
    if folder is None:
        return _not_found("the obs_integration package is not installed")
    file = folder / name
    if not file.is_file():
        return _not_found(f"no overlay file {name!r}")
    return _response(HTTPStatus.OK, file.read_bytes(), CONTENT_TYPES[suffix])
