"""Add the avatar overlay to OBS Studio as a Browser Source, over obs-websocket v5.

OBS 28+ ships obs-websocket 5 (Tools > WebSocket Server Settings; port 4455 by default). Its
protocol is JSON text frames ``{"op": n, "d": {...}}``:

- the server sends op 0 ``Hello`` ``{obsWebSocketVersion, rpcVersion, authentication?: {challenge,
  salt}}``; the client answers op 1 ``Identify`` ``{rpcVersion: 1, authentication?,
  eventSubscriptions}`` where ``authentication = base64(sha256(base64(sha256(password + salt)) +
  challenge))``; the server confirms with op 2 ``Identified`` or closes with 4008
  (AuthenticationFailed);
- requests are op 6 ``{requestType, requestId, requestData}``, answered by op 7 ``{requestType,
  requestId, requestStatus: {result, code, comment?}, responseData}``.

The client is written here on ``websockets`` (a core dependency of the service) rather than taken
from ``obsws-python``: the setup needs only Hello / Identify / Request, a few dozen lines, while
that package would add a second, synchronous websocket stack (``websocket-client``) for it.

``setup_overlay()`` is idempotent: it creates the browser source in the scene (the current program
scene by default) when OBS has none by that name, and otherwise updates its settings (URL, size)
and makes sure it is in the scene and visible.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger(__name__)

DEFAULT_OBS_URL = "ws://127.0.0.1:4455"
DEFAULT_SERVER = "http://127.0.0.1:8765"
DEFAULT_SOURCE_NAME = "Avatar Forcing"
BROWSER_SOURCE = "browser_source"
RPC_VERSION = 1

# obs-websocket v5 op codes and close codes
OP_HELLO, OP_IDENTIFY, OP_IDENTIFIED, OP_EVENT, OP_REQUEST, OP_RESPONSE = 0, 1, 2, 5, 6, 7
CLOSE_AUTHENTICATION_FAILED = 4008
CLOSE_UNSUPPORTED_RPC_VERSION = 4009
CLOSE_SESSION_INVALIDATED = 4010
STATUS_RESOURCE_NOT_FOUND = 600

ENABLE_HINT = (
    "is OBS running with its WebSocket server on? In OBS: Tools > WebSocket Server Settings > "
    "'Enable WebSocket server' (port 4455 by default; OBS 28 or newer)"
)
PASSWORD_HINT = (
    "the password is in OBS: Tools > WebSocket Server Settings > Show Connect Info; pass it with "
    "--password or the OBS_WEBSOCKET_PASSWORD environment variable"
)


class ObsError(RuntimeError):
    """Talking to OBS failed; the message says what was wrong and what to do."""


class ObsConnectionError(ObsError):
    """OBS's websocket server is not reachable (OBS not running, server disabled, wrong URL)."""


class ObsAuthError(ObsError):
    """OBS asks for a password and none was given, or it refused the one given."""


class ObsRequestError(ObsError):
    """OBS answered a request with a failure status (`code`, `comment` as OBS sent them)."""

    def __init__(self, request_type: str, code: int, comment: str | None) -> None:
        detail = f": {comment}" if comment else ""
        super().__init__(f"OBS refused {request_type} (obs-websocket status {code}{detail})")
        self.request_type = request_type
        self.code = code
        self.comment = comment


def auth_string(password: str, salt: str, challenge: str) -> str:
    """obs-websocket v5's answer to a Hello's challenge:
    base64(sha256(base64(sha256(password + salt)) + challenge))."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode("utf-8")).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode("utf-8")).digest()).decode("ascii")


class ObsWebSocket:
    """A minimal obs-websocket v5 client: `connect()` (Hello / Identify), `request()`, `close()`.

    Use as ``async with ObsWebSocket(url, password) as obs: await obs.request("GetVersion")``.

    Args:
        url: the OBS websocket, e.g. ``ws://127.0.0.1:4455``.
        password: OBS's websocket password (None when authentication is off).
        timeout: seconds for connecting and for each answer.
    """

    def __init__(
        self, url: str = DEFAULT_OBS_URL, password: str | None = None, *, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.password = password
        self.timeout = timeout
        self.ws: ClientConnection | None = None
        self.hello: dict[str, Any] = {}
        self._ids = itertools.count(1)

    async def __aenter__(self) -> ObsWebSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Open the websocket and identify; returns the Hello data. Raises ObsConnectionError,
        ObsAuthError or ObsError."""
        try:
            self.ws = await connect(
                self.url,
                subprotocols=["obswebsocket.json"],  # type: ignore[list-item]
                open_timeout=self.timeout,
                compression=None,
                proxy=None,
                max_size=16 * 1024 * 1024,
            )
        except InvalidURI as e:
            raise ObsConnectionError(f"{self.url!r} is not a websocket URL (ws://host:port): {e}") from None
        except (OSError, TimeoutError, InvalidHandshake) as e:
            raise ObsConnectionError(
                f"cannot connect to OBS at {self.url} ({_reason(e)}); {ENABLE_HINT}"
            ) from None
        try:
            hello = await self._receive_op(OP_HELLO, "Hello")
            rpc = hello.get("rpcVersion")
            if not isinstance(rpc, int):
                raise ObsError(
                    f"{self.url} did not greet like obs-websocket 5 (no rpcVersion in Hello): "
                    "OBS 28 or newer is needed (obs-websocket 4.x speaks another protocol)"
                )
            identify: dict[str, Any] = {"rpcVersion": RPC_VERSION, "eventSubscriptions": 0}
            auth = hello.get("authentication")
            if isinstance(auth, dict):
                if not self.password:
                    raise ObsAuthError(f"OBS at {self.url} requires a password; {PASSWORD_HINT}")
                identify["authentication"] = auth_string(
                    self.password, str(auth.get("salt", "")), str(auth.get("challenge", ""))
                )
            elif self.password:
                log.info("OBS at %s does not ask for a password; the one given is not used", self.url)
            await self._send(OP_IDENTIFY, identify)
            await self._receive_op(OP_IDENTIFIED, "Identified")
        except BaseException:
            await self.close()
            raise
        self.hello = hello
        log.info(
            "connected to OBS at %s (obs-websocket %s, OBS %s)",
            self.url,
            hello.get("obsWebSocketVersion"),
            hello.get("obsStudioVersion", "?"),
        )
        return hello

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; returns its responseData ({} when none). Raises ObsRequestError when
        OBS answers with a failure status, ObsError when the connection breaks or times out."""
        request_id = f"avatar-forcing-{next(self._ids)}"
        payload: dict[str, Any] = {"requestType": request_type, "requestId": request_id}
        if data is not None:
            payload["requestData"] = data
        await self._send(OP_REQUEST, payload)
        while True:
            d = await self._receive_op(OP_RESPONSE, request_type, skip_others=True)
            if d.get("requestId") != request_id:
                log.debug("skipping the answer to another request: %s", d.get("requestId"))
                continue
            status = d.get("requestStatus") or {}
            if not status.get("result"):
                raise ObsRequestError(request_type, int(status.get("code", 0)), status.get("comment"))
            response = d.get("responseData")
            return response if isinstance(response, dict) else {}

    async def close(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            with contextlib.suppress(Exception):
                await ws.close()

    # --- framing ------------------------------------------------------------------------------
    async def _send(self, op: int, d: dict[str, Any]) -> None:
        if self.ws is None:
            raise ObsError("not connected to OBS")
        try:
            await self.ws.send(json.dumps({"op": op, "d": d}))
        except ConnectionClosed as e:
            raise self._closed_error(e) from None

    async def _receive_op(self, op: int, what: str, *, skip_others: bool = False) -> dict[str, Any]:
        """The `d` of the next message with op code `op` (events are skipped)."""
        if self.ws is None:
            raise ObsError("not connected to OBS")
        while True:
            try:
                frame = await asyncio.wait_for(self.ws.recv(), self.timeout)
            except TimeoutError:
                raise ObsError(f"OBS at {self.url} did not answer {what} within {self.timeout:g} s") from None
            except ConnectionClosed as e:
                raise self._closed_error(e) from None
            try:
                msg = json.loads(frame)
            except (TypeError, ValueError):
                raise ObsError(
                    f"{self.url} sent something that is not obs-websocket JSON: {frame!r:.80}"
                ) from None
            if not isinstance(msg, dict) or not isinstance(msg.get("d"), dict) or "op" not in msg:
                raise ObsError(f"{self.url} sent a message without op/d: {msg!r:.80}")
            if msg["op"] == op:
                return msg["d"]
            if msg["op"] == OP_EVENT or skip_others:
                continue
            raise ObsError(f"expected {what} (op {op}) from OBS, got op {msg['op']}")

    def _closed_error(self, e: ConnectionClosed) -> ObsError:
        code = e.rcvd.code if e.rcvd is not None else None
        reason = e.rcvd.reason if e.rcvd is not None else ""
        if code == CLOSE_AUTHENTICATION_FAILED:
            return ObsAuthError(f"OBS at {self.url} refused the password; {PASSWORD_HINT}")
        if code == CLOSE_UNSUPPORTED_RPC_VERSION:
            return ObsError(f"OBS at {self.url} does not speak obs-websocket RPC version {RPC_VERSION}")
        if code == CLOSE_SESSION_INVALIDATED:
            return ObsError(f"OBS at {self.url} ended this connection (kicked from the session list)")
        detail = f"code {code}" + (f": {reason}" if reason else "") if code is not None else "no close frame"
        return ObsError(f"OBS at {self.url} closed the connection ({detail})")


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    return str(e) or type(e).__name__


# ----------------------------------------------------------------------------------- the overlay
def overlay_url(
    server: str = DEFAULT_SERVER,
    *,
    session: str = "*",
    mode: str = "motion",
    token: str | None = None,
    **params: str | int | float | None,
) -> str:
    """The overlay page's URL on the avatar service `server` (http(s):// or ws(s)://host:port):
    ``http://127.0.0.1:8765/overlay`` plus the URL parameters that differ from the page's defaults
    (`session` "*", `mode` "motion"), `token`, and `params` (None values are left out)."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the avatar service URL must look like http://127.0.0.1:8765, got {server!r}")
    query: dict[str, str] = {}
    if session != "*":
        query["session"] = session
    if mode != "motion":
        query["mode"] = mode
    for key, value in params.items():
        if value is not None:
            query[key] = str(value)
    if token:
        query["token"] = token
    return urlunsplit((scheme, parts.netloc, "/overlay", urlencode(query, safe="*"), ""))


def browser_source_settings(url: str, width: int, height: int) -> dict[str, Any]:
    """OBS `browser_source` settings for the overlay: its URL and size; kept running when hidden
    (so it does not reconnect and re-buffer each time the scene shows), not reloaded when the scene
    becomes active (the page reconnects by itself), OBS's audio untouched (the page plays none),
    no custom CSS (the page is transparent already)."""
    return {
        "url": url,
        "is_local_file": False,
        "width": int(width),
        "height": int(height),
        "css": "",
        "shutdown": False,
        "restart_when_active": False,
        "reroute_audio": False,
    }


async def setup_overlay_async(
    obs_url: str,
    password: str | None,
    overlay_url: str,
    scene: str | None = None,
    source_name: str = DEFAULT_SOURCE_NAME,
    width: int = 512,
    height: int = 512,
    *,
    timeout: float = 5.0,
) -> str:
    """See `setup_overlay`."""
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {width}x{height}")
    settings = browser_source_settings(overlay_url, width, height)
    async with ObsWebSocket(obs_url, password, timeout=timeout) as obs:
        if scene is None:
            current = await obs.request("GetCurrentProgramScene")
            scene = current.get("sceneName") or current.get("currentProgramSceneName")
            if not scene:
                raise ObsError("OBS did not say which scene is on program; pass --scene")
        try:
            items = (await obs.request("GetSceneItemList", {"sceneName": scene})).get("sceneItems") or []
        except ObsRequestError as e:
            if e.code == STATUS_RESOURCE_NOT_FOUND:
                raise ObsError(f"OBS has no scene named {scene!r}") from None
            raise
        inputs = (await obs.request("GetInputList")).get("inputs") or []
        existing = next((i for i in inputs if i.get("inputName") == source_name), None)
        if existing is None:
            await obs.request(
                "CreateInput",
                {
                    "sceneName": scene,
                    "inputName": source_name,
                    "inputKind": BROWSER_SOURCE,
                    "inputSettings": settings,
                    "sceneItemEnabled": True,
                },
            )
            action = f"created the browser source {source_name!r} in scene {scene!r}"
        else:
            kind = existing.get("unversionedInputKind") or existing.get("inputKind")
            if kind != BROWSER_SOURCE:
                raise ObsError(
                    f"OBS already has a source named {source_name!r} that is a {kind}, not a browser "
                    "source: choose another name (--source-name) or rename that one"
                )
            await obs.request(
                "SetInputSettings", {"inputName": source_name, "inputSettings": settings, "overlay": True}
            )
            action = f"updated the browser source {source_name!r}"
            item = next((i for i in items if i.get("sourceName") == source_name), None)
            if item is None:
                await obs.request(
                    "CreateSceneItem",
                    {"sceneName": scene, "sourceName": source_name, "sceneItemEnabled": True},
                )
                action += f" and added it to scene {scene!r}"
            elif item.get("sceneItemEnabled") is False:
                await obs.request(
                    "SetSceneItemEnabled",
                    {"sceneName": scene, "sceneItemId": item.get("sceneItemId"), "sceneItemEnabled": True},
                )
                action += f" and made it visible in scene {scene!r}"
            else:
                action += f" in scene {scene!r}"
    summary = f"{action}: {width}x{height}, {overlay_url}"
    log.info("%s", summary)
    return summary


def setup_overlay(
    obs_url: str,
    password: str | None,
    overlay_url: str,
    scene: str | None = None,
    source_name: str = DEFAULT_SOURCE_NAME,
    width: int = 512,
    height: int = 512,
    *,
    timeout: float = 5.0,
) -> str:
    """Add (or update) the overlay as a Browser Source in OBS; returns a one-line summary.

    Creates the `browser_source` input `source_name` showing `overlay_url` at `width` x `height` in
    `scene` (default: the current program scene) when OBS has no input by that name; otherwise
    updates its settings and adds it to the scene / makes it visible there when needed, so running
    it twice is harmless. Raises ObsConnectionError (OBS not reachable), ObsAuthError (password
    missing or wrong), ObsRequestError (OBS refused a request: its status code and comment) or
    ObsError. Runs its own event loop: from async code, await `setup_overlay_async` instead."""
    return asyncio.run(
        setup_overlay_async(
            obs_url, password, overlay_url, scene, source_name, width, height, timeout=timeout
        )
    )
