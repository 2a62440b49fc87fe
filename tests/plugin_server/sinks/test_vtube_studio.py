"""The VTube Studio injector against a local websocket server speaking the documented API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("websockets", reason="the vtube_studio sink needs websockets")

from websockets.asyncio.server import ServerConnection, serve

from models.motion.arkit import INDEX, ArkitSpace
from plugin_server.sinks import MotionFrame, create_sink
from plugin_server.sinks.vtube_studio import (
    VTS_PARAMETERS,
    VTubeStudioSink,
    arkit_to_vts,
    backoff_delay,
)

PLUGIN = {"pluginName": "Avatar Forcing", "pluginDeveloper": "avatar-forcing"}


class FakeVTubeStudio:
    """A minimal VTube Studio API server (API 1.0) on 127.0.0.1, run on its own thread.

    Knobs: ``reject_next`` (close that many new connections at once), ``error_next_inject``
    (answer the next injection with an APIError), ``revoke()`` (forget all tokens and answer the
    next injection with errorID 50, as VTS does after the user revoked access), ``drop()``
    (close the current connection).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.auth_requests: list[tuple[str, bool]] = []
        self.injections: list[tuple[float, dict[str, Any]]] = []
        self.connection_times: list[float] = []
        self.errors_sent: list[int] = []
        self.reject_next = 0
        self.error_next_inject = False
        self.revoked_pending = False
        self._connections: set[ServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.port = 0

    # -- control from the test thread
    def start(self) -> FakeVTubeStudio:
        self._thread.start()
        assert self._started.wait(5)
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def drop(self) -> None:
        assert self._loop is not None
        for ws in list(self._connections):
            asyncio.run_coroutine_threadsafe(ws.close(), self._loop)

    def revoke(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.revoked_pending = True

    # -- server
    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._started.set()
            await self._stop.wait()

    @staticmethod
    def _reply(request: dict[str, Any], message_type: str, data: dict[str, Any]) -> str:
        return json.dumps(
            {
                "apiName": "VTubeStudioPublicAPI",
                "apiVersion": "1.0",
                "timestamp": int(time.time() * 1000),
                "requestID": request.get("requestID", "x"),
                "messageType": message_type,
                "data": data,
            }
        )

    def _error(self, request: dict[str, Any], error_id: int, message: str) -> str:
        self.errors_sent.append(error_id)
        return self._reply(request, "APIError", {"errorID": error_id, "message": message})

    async def _handler(self, ws: ServerConnection) -> None:
        with self.lock:
            self.connection_times.append(time.monotonic())
            if self.reject_next > 0:
                self.reject_next -= 1
                reject = True
            else:
                reject = False
        if reject:
            await ws.close()
            return
        self._connections.add(ws)
        authenticated = False
        try:
            async for raw in ws:
                request = json.loads(raw)
                assert request["apiName"] == "VTubeStudioPublicAPI" and request["apiVersion"] == "1.0"
                assert 1 <= len(request["requestID"]) <= 64
                kind, data = request["messageType"], request.get("data") or {}
                with self.lock:
                    if kind == "AuthenticationTokenRequest":
                        assert {k: data[k] for k in PLUGIN} == PLUGIN
                        self.token_requests += 1
                        token = f"token-{self.token_requests}"
                        self.tokens.add(token)
                        answer = self._reply(
                            request, "AuthenticationTokenResponse", {"authenticationToken": token}
                        )
                    elif kind == "AuthenticationRequest":
                        ok = data.get("authenticationToken") in self.tokens and all(
                            data.get(k) == v for k, v in PLUGIN.items()
                        )
                        self.auth_requests.append((str(data.get("authenticationToken")), ok))
                        authenticated = ok
                        reason = "Token valid." if ok else "Token invalid or revoked."
                        answer = self._reply(
                            request, "AuthenticationResponse", {"authenticated": ok, "reason": reason}
                        )
                    elif kind == "InjectParameterDataRequest":
                        if self.revoked_pending:
                            self.revoked_pending = False
                            authenticated = False
                            answer = self._error(request, 50, "User has denied API access for your plugin.")
                        elif not authenticated:
                            answer = self._error(request, 8, "Request requires authentication.")
                        elif self.error_next_inject:
                            self.error_next_inject = False
                            answer = self._error(request, 453, "Parameter not found.")
                        else:
                            self.injections.append((time.monotonic(), data))
                            answer = self._reply(request, "InjectParameterDataResponse", {})
                    else:
                        answer = self._error(request, 7, f"unknown request type {kind}")
                await ws.send(answer)
        finally:
            self._connections.discard(ws)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def server() -> Iterator[FakeVTubeStudio]:
    fake = FakeVTubeStudio().start()
    try:
        yield fake
    finally:
        fake.stop()


def make_frame(i: int, **named: float) -> MotionFrame:
    values = ArkitSpace.from_dicts([named])[0]
    return MotionFrame(i, i / 25, values)


def test_mapping_ranges_and_mirror() -> None:
    v = ArkitSpace.from_dicts([{"JawOpen": 0.7, "MouthClose": 0.2, "EyeBlinkLeft": 1.0, "HeadYaw": 120.0}])[0]
    v[INDEX["HeadX"]] = -25.0
    out = arkit_to_vts(v)
    assert tuple(out) == VTS_PARAMETERS and all(type(x) is float for x in out.values())
    assert out["MouthOpen"] == pytest.approx(0.5) and out["EyeOpenLeft"] == 0.0 and out["EyeOpenRight"] == 1.0
    assert out["FaceAngleX"] == 90.0 and out["FacePositionX"] == -10.0
    assert out["MouthSmile"] == 0.5 and out["BrowLeftY"] == 0.5 and out["Brows"] == 0.5
    m = arkit_to_vts(v, mirror=True)
    assert m["FaceAngleX"] == -90.0 and m["EyeOpenLeft"] == 1.0 and m["EyeOpenRight"] == 0.0
    gaze = arkit_to_vts(ArkitSpace.from_dicts([{"EyeLookOutLeft": 0.6, "EyeLookInRight": 0.6}])[0])
    assert gaze["EyeLeftX"] == pytest.approx(0.6) and gaze["EyeRightX"] == pytest.approx(0.6)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    lows = [backoff_delay(k, 0.5, 10.0, rng=lambda: 0.0) for k in range(8)]
    highs = [backoff_delay(k, 0.5, 10.0, rng=lambda: 0.999999) for k in range(8)]
    assert lows == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert highs == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0], rel=1e-5)
    assert len({backoff_delay(3, 0.5, 10.0) for _ in range(20)}) > 1


def test_auth_inject_resend_error_reconnect_and_reauth(server: FakeVTubeStudio, tmp_path: Path) -> None:
    token_path = tmp_path / "vts" / "token.json"
    sink = create_sink(
        "vtube_studio",
        host="127.0.0.1",
        port=server.port,
        token_path=str(token_path),
        backoff_initial=0.05,
        backoff_max=0.4,
        request_timeout=2.0,
    )
    assert isinstance(sink, VTubeStudioSink)
    sink.start()
    try:
        # 1. First connection: token request (the user "allows"), token persisted, authentication.
        assert sink.wait_connected(5)
        assert server.token_requests == 1 and server.auth_requests == [("token-1", True)]
        stored = json.loads(token_path.read_text())
        assert stored["authenticationToken"] == "token-1" and stored["pluginName"] == "Avatar Forcing"
        assert token_path.stat().st_mode & 0o077 == 0

        # 2. A frame is injected with every default parameter, as floats, faceFound and mode set.
        frame = make_frame(1, JawOpen=0.6, EyeBlinkRight=1.0, HeadYaw=12.0, HeadPitch=-5.0)
        sink.submit(frame)
        assert wait_until(lambda: len(server.injections) >= 1)
        _, data = server.injections[0]
        assert data["faceFound"] is True and data["mode"] == "set"
        params = {p["id"]: p["value"] for p in data["parameterValues"]}
        assert list(params) == list(VTS_PARAMETERS)
        assert all(isinstance(v, float) for v in params.values())
        assert params == pytest.approx(arkit_to_vts(frame.values))
        assert params["FaceAngleX"] == pytest.approx(12.0) and params["EyeOpenRight"] == 0.0

        # 3. No new frames for 1.3 s: the last values are re-sent well within VTS's 1 s timeout.
        n0 = len(server.injections)
        time.sleep(1.3)
        times = [t for t, _ in server.injections[n0 - 1 :]]
        gaps = np.diff(times)
        assert len(gaps) >= 2 and gaps.max() < 0.8, gaps
        assert all(d["parameterValues"] == data["parameterValues"] for _, d in server.injections[n0:])
        assert sink.stats.extra["resent"] >= 2 and sink.stats.sent == 1

        # 4. An APIError reply is logged and counted; streaming goes on on the same connection.
        server.error_next_inject = True
        sink.submit(make_frame(2, JawOpen=0.1))
        assert wait_until(lambda: sink.stats.extra["api_errors"] >= 1)
        n1 = len(server.injections)
        sink.submit(make_frame(3, JawOpen=0.2))
        assert wait_until(lambda: len(server.injections) > n1)
        assert len(server.connection_times) == 1

        # 5. Forced disconnect, then 3 refused attempts: reconnect with growing, capped backoff,
        #    and re-authenticate with the persisted token (no new popup).
        server.reject_next = 3
        server.drop()
        assert wait_until(lambda: len(server.connection_times) >= 5 and sink.connected, timeout=8)
        assert server.token_requests == 1 and server.auth_requests[-1] == ("token-1", True)
        delays = list(sink.backoff_history)[-4:]
        for k, d in enumerate(delays):
            nominal = min(0.4, 0.05 * 2**k)
            assert 0.5 * nominal <= d <= nominal, (k, delays)
        gaps = np.diff(server.connection_times[-5:])
        assert all(g >= d - 0.005 for g, d in zip(gaps, delays, strict=True)), (gaps, delays)
        assert sink.stats.extra["reconnects"] >= 4 and sink.stats.extra["connections"] == 2
        n2 = len(server.injections)
        assert wait_until(lambda: len(server.injections) > n2, timeout=2)  # re-sends resumed

        # 6. The user revokes access: errorID 50 -> re-authentication fails -> a new token.
        server.revoke()
        sink.submit(make_frame(4, JawOpen=0.3))
        assert wait_until(lambda: server.token_requests == 2, timeout=5)
        assert wait_until(lambda: json.loads(token_path.read_text())["authenticationToken"] == "token-2")
        assert ("token-1", False) in server.auth_requests and server.auth_requests[-1] == ("token-2", True)
        n3 = len(server.injections)
        assert wait_until(lambda: len(server.injections) > n3, timeout=2)
    finally:
        sink.stop()
    assert not sink.running and not sink.connected

    # A new sink (a restarted server process) authenticates with the stored token: no popup.
    again = VTubeStudioSink(host="127.0.0.1", port=server.port, token_path=token_path)
    with again:
        assert again.wait_connected(5)
    assert server.token_requests == 2 and server.auth_requests[-1] == ("token-2", True)


def test_unreachable_vts_never_blocks_submit(tmp_path: Path) -> None:
    sink = VTubeStudioSink(
        host="127.0.0.1", port=1, token_path=tmp_path / "t.json", backoff_initial=0.05, backoff_max=0.1
    )
    with sink:
        t0 = time.perf_counter()
        for i in range(50):
            sink.submit(make_frame(i))
        assert time.perf_counter() - t0 < 0.1
        assert wait_until(lambda: sink.stats.extra["reconnects"] >= 2, timeout=3)
        assert not sink.connected
    assert sink.stats.dropped >= 46  # queue of 4; everything else stale
