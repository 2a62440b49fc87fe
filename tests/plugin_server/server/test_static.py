"""The overlay's plain-HTTP routes (`plugin_server/server/static.py`): /overlay and /overlay/<file>."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from models.bundle import AvatarForcingModel
from plugin_server.server import AvatarServer
from plugin_server.server.static import static_response

from .conftest import server_thread


@pytest.fixture(scope="module")
def server(model: AvatarForcingModel) -> Iterator[AvatarServer]:
    with server_thread(model) as server:
        yield server


def _get(server: AvatarServer, path: str) -> tuple[int, dict[str, str], bytes]:
    """A raw GET of `path` as written (http.client does not normalise `..`)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_overlay_page_and_scripts_are_served(server: AvatarServer) -> None:
    status, headers, body = _get(server, "/overlay")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert '<canvas id="avatar"' in page
    # absolute paths: the page's URL has no trailing slash, so relative ones would miss /overlay/
    assert 'src="/overlay/overlay.js"' in page and 'src="/overlay/cartoon.js"' in page
    status, headers, body = _get(server, "/overlay?session=*&debug=1")  # the query is not part of the path
    assert status == 200 and headers["content-type"].startswith("text/html")
    status, headers, body = _get(server, "/overlay/overlay.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert b"window.overlayState" in body
    status, headers, _ = _get(server, "/overlay/overlay.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert headers["cache-control"] == "no-cache" and headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/overlay/../pyproject.toml",
        "/overlay/..%2Fpyproject.toml",
        "/overlay/__init__.py",
        "/overlay/obs_websocket.py",
        "/overlay/missing.js",
        "/overlay/sub/overlay.js",
        "/overlay/.hidden.js",
        "/overlay/README.md",
    ],
)
def test_other_paths_are_not_served(server: AvatarServer, path: str) -> None:
    status, _, body = _get(server, path)
    assert status == 404, (path, status, body[:200])
    assert b"[project]" not in body and b"import" not in body


def test_static_response_leaves_websockets_and_other_paths_alone() -> None:
    upgrade = Request("/overlay", Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")]))
    assert static_response(upgrade, "/overlay") is None
    plain = Request("/health", Headers())
    assert static_response(plain, "/health") is None
    assert static_response(plain, "/overlays") is None
    page = static_response(Request("/overlay/", Headers()), "/overlay/")
    assert page is not None and page.status_code == 200 and b"<canvas" in page.body
