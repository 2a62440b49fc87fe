"""VTube Studio injector: drives a Live2D model through VTube Studio's public websocket API.

Protocol (https://github.com/DenchiSoft/VTubeStudio, API 1.0): every message is
``{"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID", "messageType", "data"}``.

1. First time only: ``AuthenticationTokenRequest {pluginName, pluginDeveloper}`` shows a popup in
   VTube Studio; when the user allows it the ``AuthenticationTokenResponse`` carries a token, which
   is persisted to ``token_path`` (JSON, mode 0600) so the user is asked once.
2. On every connection: ``AuthenticationRequest {pluginName, pluginDeveloper, authenticationToken}``
   -> ``{authenticated}``. ``false`` means the token was revoked: it is forgotten and a new one is
   requested (step 1).
3. ``InjectParameterDataRequest {faceFound, mode: "set", parameterValues: [{id, value}]}`` for each
   new frame, and the last values again whenever ``resend_interval`` (0.5 s) passes without a new
   frame: VTube Studio releases a parameter that is not re-sent within 1 s.
4. ``APIError {errorID, message}`` replies are logged and counted; errorID 8 (request requires
   authentication) or 50 (access denied/revoked) on an injection triggers re-authentication.
5. Any connection failure or disconnect -> reconnect after ``backoff_delay``: exponential from
   ``backoff_initial`` doubling up to ``backoff_max``, with "equal jitter" (uniformly 50..100 % of
   that), reset after a successful authentication.

The client runs its own asyncio loop on a daemon thread; ``submit`` only puts the frame into a
drop-oldest queue and wakes that loop, so a slow or absent VTube Studio never stalls generation.
Only the newest queued frame is sent (VTube Studio shows the current pose); skipped ones count as
dropped.

Parameter mapping (:func:`arkit_to_vts`; ``b(X)`` an ARKit blendshape, ``mean`` of its Left/Right
pair; signs: positive X = toward the viewer's right = the avatar's own left, like Live2D's
ParamAngleX/ParamEyeBallX; ``mirror=True`` flips X and swaps the eyes and brows):

================  ============================================================  ==========
parameter         formula                                                       range
================  ============================================================  ==========
FaceAngleX        HeadYaw (deg; + turns to the avatar's left)                   -90..90
FaceAngleY        HeadPitch (deg; + chin up)                                    -90..90
FaceAngleZ        HeadRoll (deg; + tilts toward the avatar's left shoulder)     -90..90
FacePositionX/Y/Z HeadX / HeadY / HeadZ (1 unit per cm)                         -10..10
MouthOpen         b(JawOpen) - b(MouthClose)                                    0..1
MouthSmile        0.5 + 0.5 (mean(MouthSmile) - mean(MouthFrown)); 0.5 neutral  0..1
EyeOpenLeft/Right 1 - b(EyeBlinkLeft) / 1 - b(EyeBlinkRight)                    0..1
EyeLeftX          b(EyeLookOutLeft) - b(EyeLookInLeft)                          -1..1
EyeRightX         b(EyeLookInRight) - b(EyeLookOutRight)                        -1..1
EyeLeftY/RightY   b(EyeLookUp*) - b(EyeLookDown*)                               -1..1
BrowLeftY/RightY  0.5 + 0.5 (max(b(BrowOuterUp*), b(BrowInnerUp)) - b(BrowDown*))  0..1
Brows             mean(BrowLeftY, BrowRightY)                                   0..1
CheekPuff         b(CheekPuff)                                                  0..1
TongueOut         b(TongueOut)                                                  0..1
MouthX            b(MouthLeft) - b(MouthRight)                                  -1..1
================  ============================================================  ==========

Ranges are those of VTube Studio's default inputs (values are clamped to them); the user maps them
to Live2D parameters in the model settings as with any tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.motion.arkit import ARKIT_DIM, INDEX

from .base import (
    Counters,
    DropOldestQueue,
    MotionFrame,
    QueueClosedError,
    QueueEmptyError,
    RateLimitedLog,
    Sink,
    SinkConfigError,
    SinkError,
    SinkStats,
    SinkUnavailableError,
    register_sink,
)

log = logging.getLogger(__name__)

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
ERROR_REQUIRES_AUTHENTICATION = 8
ERROR_TOKEN_REQUEST_DENIED = 50  # also returned for any request once the user revoked access
REAUTH_ERRORS = frozenset({ERROR_REQUIRES_AUTHENTICATION, ERROR_TOKEN_REQUEST_DENIED})

VTS_PARAMETERS: tuple[str, ...] = (
    "FaceAngleX", "FaceAngleY", "FaceAngleZ", "FacePositionX", "FacePositionY", "FacePositionZ",
    "MouthOpen", "MouthSmile", "EyeOpenLeft", "EyeOpenRight", "EyeLeftX", "EyeLeftY", "EyeRightX",
    "EyeRightY", "Brows", "BrowLeftY", "BrowRightY", "CheekPuff", "TongueOut", "MouthX",
)  # fmt: skip


def _clamp(x: float, lo: float, hi: float) -> float:
    if not x > lo:  # also NaN
        return float(lo)
    return float(hi) if x >= hi else float(x)


def arkit_to_vts(values: np.ndarray | Sequence[float], *, mirror: bool = False) -> dict[str, float]:
    """``(58,)`` ARKit vector -> ``{VTube Studio default parameter: float}`` (see the module doc)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (ARKIT_DIM,):
        raise ValueError(f"expected {ARKIT_DIM} ARKit channels, got shape {arr.shape}")
    v = [float(x) for x in arr.tolist()]

    def b(name: str) -> float:
        return _clamp(v[INDEX[name]], 0.0, 1.0)

    def brow(side: str) -> float:
        up = max(b(f"BrowOuterUp{side}"), b("BrowInnerUp"))
        return _clamp(0.5 + 0.5 * (up - b(f"BrowDown{side}")), 0.0, 1.0)

    smile = 0.5 * (b("MouthSmileLeft") + b("MouthSmileRight"))
    frown = 0.5 * (b("MouthFrownLeft") + b("MouthFrownRight"))
    out = {
        "FaceAngleX": _clamp(v[INDEX["HeadYaw"]], -90.0, 90.0),
        "FaceAngleY": _clamp(v[INDEX["HeadPitch"]], -90.0, 90.0),
        "FaceAngleZ": _clamp(v[INDEX["HeadRoll"]], -90.0, 90.0),
        "FacePositionX": _clamp(v[INDEX["HeadX"]], -10.0, 10.0),
        "FacePositionY": _clamp(v[INDEX["HeadY"]], -10.0, 10.0),
        "FacePositionZ": _clamp(v[INDEX["HeadZ"]], -10.0, 10.0),
        "MouthOpen": _clamp(b("JawOpen") - b("MouthClose"), 0.0, 1.0),
        "MouthSmile": _clamp(0.5 + 0.5 * (smile - frown), 0.0, 1.0),
        "EyeOpenLeft": 1.0 - b("EyeBlinkLeft"),
        "EyeOpenRight": 1.0 - b("EyeBlinkRight"),
        "EyeLeftX": _clamp(b("EyeLookOutLeft") - b("EyeLookInLeft"), -1.0, 1.0),
        "EyeLeftY": _clamp(b("EyeLookUpLeft") - b("EyeLookDownLeft"), -1.0, 1.0),
        "EyeRightX": _clamp(b("EyeLookInRight") - b("EyeLookOutRight"), -1.0, 1.0),
        "EyeRightY": _clamp(b("EyeLookUpRight") - b("EyeLookDownRight"), -1.0, 1.0),
        "BrowLeftY": brow("Left"),
        "BrowRightY": brow("Right"),
        "CheekPuff": b("CheekPuff"),
        "TongueOut": b("TongueOut"),
        "MouthX": _clamp(b("MouthLeft") - b("MouthRight"), -1.0, 1.0),
    }
    if mirror:
        for key in ("FaceAngleX", "FaceAngleZ", "FacePositionX", "EyeLeftX", "EyeRightX", "MouthX"):
            out[key] = -out[key]
        for left, right in (("EyeOpenLeft", "EyeOpenRight"), ("BrowLeftY", "BrowRightY")):
            out[left], out[right] = out[right], out[left]
        out["EyeLeftX"], out["EyeRightX"] = out["EyeRightX"], out["EyeLeftX"]
        out["EyeLeftY"], out["EyeRightY"] = out["EyeRightY"], out["EyeLeftY"]
    out["Brows"] = 0.5 * (out["BrowLeftY"] + out["BrowRightY"])
    return {name: float(out[name]) + 0.0 for name in VTS_PARAMETERS}  # + 0.0 turns -0.0 into 0.0


def backoff_delay(
    attempt: int, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """Reconnect delay for the ``attempt``-th consecutive failure (0-based).

    ``min(maximum, initial * 2**attempt)`` scaled by a uniform factor in [0.5, 1) ("equal jitter":
    never shorter than half the nominal delay, so the exponential growth is preserved, while many
    clients restarting together spread out).
    """
    nominal = min(maximum, initial * (2.0 ** min(attempt, 60)))
    return nominal * (0.5 + 0.5 * rng())


def default_token_path() -> Path:
    """``$XDG_CONFIG_HOME/avatar-forcing/vtube_studio_token.json`` (``%APPDATA%`` on Windows)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.environ.get("APPDATA") or str(Path.home() / ".config")
    return Path(base) / "avatar-forcing" / "vtube_studio_token.json"


class VTSAPIError(SinkError):
    """An ``APIError`` reply from VTube Studio."""

    def __init__(self, error_id: int, message: str, request_type: str = "") -> None:
        super().__init__(f"VTube Studio APIError {error_id} on {request_type or 'request'}: {message}")
        self.error_id = error_id
        self.vts_message = message


class _DisconnectedError(SinkError):
    """The websocket closed (by VTube Studio, the network, or a protocol error)."""


def _import_websockets() -> tuple[Any, Any]:
    try:
        import websockets
        from websockets.asyncio.client import connect
    except ImportError as exc:
        raise SinkUnavailableError(
            f"the vtube_studio sink needs websockets >= 13 (asyncio client): pip install websockets ({exc})"
        ) from exc
    return websockets, connect


@register_sink("vtube_studio")
class VTubeStudioSink(Sink):
    """Inject ARKit-derived tracking parameters into VTube Studio.

    Args:
        host: VTube Studio's host (``localhost``; VTS may run on another PC of the LAN).
        port: its API port (8001 unless changed in VTS's settings).
        token_path: JSON file where the authentication token is kept (default
            :func:`default_token_path`).
        plugin_name: shown in VTube Studio's permission popup (3..32 characters).
        plugin_developer: likewise.
        request_token: ask for a token (popup) when none is stored or it was revoked; when false a
            missing/invalid token is an error that is retried with backoff.
        resend_interval: re-send the last values when no new frame came for this long (s, < 1).
        backoff_initial: first reconnect delay (s).
        backoff_max: cap of the reconnect delay (s).
        connect_timeout: websocket opening handshake timeout (s).
        request_timeout: timeout of ordinary requests (s).
        token_timeout: how long to wait for the user to answer the token popup (s).
        face_found: the ``faceFound`` flag sent with the values (true: no "tracking lost" animation).
        mirror: mirror the X axis and swap left/right (see the module doc).
        queue_size: frames buffered before the oldest is dropped.
    """

    consumes = frozenset({"motion"})

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 8001,
        token_path: str | Path | None = None,
        plugin_name: str = "Avatar Forcing",
        plugin_developer: str = "avatar-forcing",
        request_token: bool = True,
        resend_interval: float = 0.5,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        token_timeout: float = 120.0,
        face_found: bool = True,
        mirror: bool = False,
        queue_size: int = 4,
    ) -> None:
        if not 3 <= len(plugin_name) <= 32 or not 3 <= len(plugin_developer) <= 32:
            raise SinkConfigError("vtube_studio: plugin_name and plugin_developer must be 3..32 characters")
        if not 0 < resend_interval < 1.0:
            raise SinkConfigError(f"vtube_studio: resend_interval must be in (0, 1) s, got {resend_interval}")
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise SinkConfigError("vtube_studio: need 0 < backoff_initial <= backoff_max")
        self._websockets, self._connect = _import_websockets()
        self.url = f"ws://{host}:{int(port)}"
        self.token_path = Path(token_path).expanduser() if token_path else default_token_path()
        self.plugin_name = plugin_name
        self.plugin_developer = plugin_developer
        self.request_token = request_token
        self.resend_interval = float(resend_interval)
        self.backoff_initial = float(backoff_initial)
        self.backoff_max = float(backoff_max)
        self.connect_timeout = float(connect_timeout)
        self.request_timeout = float(request_timeout)
        self.token_timeout = float(token_timeout)
        self.face_found = face_found
        self.mirror = mirror

        self._queue: DropOldestQueue[MotionFrame] = DropOldestQueue(queue_size)
        self._counters = Counters(
            "resent", "connections", "reconnects", "api_errors", "token_requests", "authentications"
        )
        self._error_log = RateLimitedLog(log)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._astop: asyncio.Event | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._need_auth = False
        self._session_authenticated = False
        self._last_values: dict[str, float] | None = None
        self._token: str | None = None
        self.backoff_history: deque[float] = deque(maxlen=64)  # recent reconnect delays (diagnostics)
        connect_params = inspect.signature(self._connect).parameters
        self._connect_kwargs: dict[str, Any] = {"open_timeout": self.connect_timeout, "compression": None}
        if "proxy" in connect_params:  # websockets >= 15 honours proxy env vars unless told not to
            self._connect_kwargs["proxy"] = None

    # ------------------------------------------------------------------------------ public API
    @property
    def running(self) -> bool:
        return self._running

    @property
    def connected(self) -> bool:
        """Connected and authenticated right now."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until connected and authenticated (for callers that want to report status)."""
        return self._connected.wait(timeout)

    @property
    def stats(self) -> SinkStats:
        return self._counters.snapshot()

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._stopping.clear()
            self._queue.drain()
            self._queue.reopen()
            self._running = True
            self._thread = threading.Thread(target=self._thread_main, name="sink-vtube_studio", daemon=True)
            self._thread.start()
        log.info("vtube_studio: connecting to %s (token file %s)", self.url, self.token_path)

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stopping.set()
            before = self._queue.dropped
            self._queue.close()
            self._counters.add("dropped", self._queue.dropped - before)
            self._call_in_loop(self._request_stop)
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("vtube_studio: client thread did not stop within %.1f s", timeout)
        self._connected.clear()
        log.info("vtube_studio: stopped: %s", self.stats.as_dict())

    def submit(self, frame: MotionFrame) -> None:
        if not self._running:
            self._counters.add("dropped")
            return
        if self._queue.put(frame):
            self._counters.add("dropped")
        wake = self._wake
        if wake is not None:
            self._call_in_loop(wake.set)

    # ------------------------------------------------------------------------------ token file
    def _load_token(self) -> str | None:
        try:
            data = json.loads(self.token_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("vtube_studio: ignoring unreadable token file %s: %s", self.token_path, exc)
            return None
        if data.get("pluginName") != self.plugin_name or data.get("pluginDeveloper") != self.plugin_developer:
            log.info("vtube_studio: token file %s is for another plugin name; ignoring it", self.token_path)
            return None
        token = data.get("authenticationToken")
        return token if isinstance(token, str) and token else None

    def _save_token(self, token: str) -> None:
        payload = {
            "pluginName": self.plugin_name,
            "pluginDeveloper": self.plugin_developer,
            "authenticationToken": token,
            "url": self.url,
        }
        try:
            self.token_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.token_path.with_name(self.token_path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2)
            os.replace(tmp, self.token_path)
        except OSError as exc:
            log.warning("vtube_studio: could not persist the token to %s: %s", self.token_path, exc)

    def _forget_token(self) -> None:
        self._token = None
        with contextlib.suppress(FileNotFoundError, OSError):
            self.token_path.unlink()

    # ------------------------------------------------------------------------------ loop plumbing
    def _call_in_loop(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(fn)

    def _request_stop(self) -> None:
        if self._astop is not None:
            self._astop.set()
        if self._wake is not None:
            self._wake.set()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:
            self._counters.add("errors")
            log.exception("vtube_studio: client loop crashed: %s", exc)
        finally:
            self._loop = None
            self._connected.clear()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._astop = asyncio.Event()
        if self._stopping.is_set():
            return
        stop_task = asyncio.ensure_future(self._astop.wait())
        attempt = 0
        try:
            while True:
                self._session_authenticated = False
                session = asyncio.ensure_future(self._session())
                done, _ = await asyncio.wait({session, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                if stop_task in done:
                    session.cancel()
                    await asyncio.wait({session}, timeout=2.0)
                    return
                exc = None if session.cancelled() else session.exception()
                self._on_session_end(exc)
                if self._session_authenticated:
                    attempt = 0
                if isinstance(exc, VTSAPIError) and exc.error_id == ERROR_TOKEN_REQUEST_DENIED:
                    attempt = max(attempt, 60)  # the user said no: do not pop up again quickly
                delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max)
                attempt += 1
                self.backoff_history.append(delay)
                self._counters.add("reconnects")
                log.debug("vtube_studio: reconnecting in %.2f s", delay)
                done, _ = await asyncio.wait({stop_task}, timeout=delay)
                if done:
                    return
        finally:
            stop_task.cancel()

    def _on_session_end(self, exc: BaseException | None) -> None:
        self._counters.add("errors")
        if isinstance(exc, OSError):
            self._error_log(
                logging.WARNING,
                "vtube_studio: cannot reach %s (%s); is VTube Studio running with "
                "'Allow Plugin API access' on, and is the port right?",
                self.url,
                exc,
            )
        else:
            self._error_log(logging.WARNING, "vtube_studio: connection to %s ended: %r", self.url, exc)

    # ------------------------------------------------------------------------------ one connection
    async def _session(self) -> None:
        ws = await self._connect(self.url, **self._connect_kwargs)
        self._pending = {}
        self._need_auth = False
        reader = asyncio.ensure_future(self._reader(ws))
        try:
            await self._authenticate(ws)
            self._session_authenticated = True
            self._counters.add("connections")
            self._connected.set()
            log.info("vtube_studio: connected and authenticated at %s", self.url)
            await self._stream(ws, reader)
        finally:
            self._connected.clear()
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(_DisconnectedError("connection closed"))
            self._pending = {}
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    def _envelope(self, message_type: str, data: dict[str, Any], request_id: str) -> str:
        return json.dumps(
            {
                "apiName": API_NAME,
                "apiVersion": API_VERSION,
                "requestID": request_id,
                "messageType": message_type,
                "data": data,
            }
        )

    async def _call(self, ws: Any, message_type: str, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        request_id = f"af-{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            await ws.send(self._envelope(message_type, data, request_id))
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(request_id, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # mark a failure set by the reader as retrieved
            else:
                fut.cancel()
        if reply.get("messageType") == "APIError":
            err = reply.get("data") or {}
            self._counters.add("api_errors")
            raise VTSAPIError(int(err.get("errorID", -1)), str(err.get("message", "")), message_type)
        return reply.get("data") or {}

    async def _authenticate(self, ws: Any) -> None:
        self._token = self._token or self._load_token()
        auth = {"pluginName": self.plugin_name, "pluginDeveloper": self.plugin_developer}
        if self._token:
            reply = await self._call(
                ws,
                "AuthenticationRequest",
                {**auth, "authenticationToken": self._token},
                self.request_timeout,
            )
            if reply.get("authenticated"):
                self._counters.add("authentications")
                return
            log.warning(
                "vtube_studio: stored token rejected (%s); it was probably revoked in VTube Studio",
                reply.get("reason", "no reason given"),
            )
            self._forget_token()
        if not self.request_token:
            raise SinkError(
                f"vtube_studio: no valid token in {self.token_path} and request_token is off; "
                "enable request_token to ask VTube Studio for access"
            )
        log.warning(
            "vtube_studio: requesting access: click 'Allow' in VTube Studio's popup for %r", self.plugin_name
        )
        self._counters.add("token_requests")
        reply = await self._call(ws, "AuthenticationTokenRequest", auth, self.token_timeout)
        token = reply.get("authenticationToken")
        if not isinstance(token, str) or not token:
            raise SinkError("vtube_studio: AuthenticationTokenResponse without a token")
        self._token = token
        self._save_token(token)
        reply = await self._call(
            ws, "AuthenticationRequest", {**auth, "authenticationToken": token}, self.request_timeout
        )
        if not reply.get("authenticated"):
            self._forget_token()
            raise SinkError(f"vtube_studio: fresh token rejected: {reply.get('reason')}")
        self._counters.add("authentications")

    async def _reader(self, ws: Any) -> None:
        """Route replies to waiting requests; log unsolicited errors (injection replies)."""
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    self._counters.add("errors")
                    self._error_log(logging.WARNING, "vtube_studio: invalid JSON from VTube Studio")
                    continue
                fut = self._pending.pop(str(message.get("requestID")), None)
                if fut is not None and not fut.done():
                    fut.set_result(message)
                elif message.get("messageType") == "APIError":
                    self._on_api_error(message.get("data") or {})
        finally:
            # Fail requests still waiting for a reply (e.g. the authentication) and wake the sender.
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(_DisconnectedError("VTube Studio closed the connection"))
            if self._wake is not None:
                self._wake.set()

    def _on_api_error(self, data: dict[str, Any]) -> None:
        error_id = int(data.get("errorID", -1))
        self._counters.add("api_errors")
        self._counters.add("errors")
        self._error_log(
            logging.WARNING, "vtube_studio: APIError %d: %s", error_id, data.get("message", "(no message)")
        )
        if error_id in REAUTH_ERRORS:
            self._need_auth = True
            if self._wake is not None:
                self._wake.set()

    async def _stream(self, ws: Any, reader: asyncio.Future[None]) -> None:
        assert self._wake is not None
        last_send = -float("inf")
        assert self._astop is not None
        while not self._astop.is_set():
            if reader.done():
                exc = reader.exception() if not reader.cancelled() else None
                raise _DisconnectedError(f"VTube Studio closed the connection ({exc or 'closed'})")
            if self._need_auth:
                self._need_auth = False
                log.info("vtube_studio: re-authenticating")
                await self._authenticate(ws)
            self._wake.clear()
            new = False
            try:
                frame, skipped = self._queue.get_latest(timeout=0)
            except (QueueEmptyError, QueueClosedError):
                pass
            else:
                if skipped:
                    self._counters.add("dropped", skipped)
                self._last_values = arkit_to_vts(frame.values, mirror=self.mirror)
                new = True
            now = time.monotonic()
            if self._last_values is not None and (new or now - last_send >= self.resend_interval):
                await self._send_values(ws, self._last_values)
                last_send = time.monotonic()
                self._counters.add("sent" if new else "resent")
            # Sleep until a new frame, the re-send deadline, a reply needing action or stop.
            timeout: float | None = None
            if self._last_values is not None:
                timeout = max(0.0, self.resend_interval - (time.monotonic() - last_send))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send_values(self, ws: Any, values: dict[str, float]) -> None:
        data = {
            "faceFound": bool(self.face_found),
            "mode": "set",
            "parameterValues": [{"id": k, "value": v} for k, v in values.items()],
        }
        message = self._envelope("InjectParameterDataRequest", data, f"af-inject-{next(self._ids)}")
        await asyncio.wait_for(ws.send(message), self.request_timeout)
