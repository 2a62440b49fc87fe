"""The obs-websocket v5 setup (`obs_integration/obs_websocket.py`) and `avatar-forcing obs-setup`
against a protocol peer written here: OBS itself cannot run in the tests.

`FakeObs` speaks obs-websocket 5 the way OBS does: Hello with a challenge and salt, checks the
Identify's authentication string (computed here step by step as the protocol document describes),
closes with 4008 on a wrong one, and answers the requests the setup uses with OBS's status codes,
keeping a small model of scenes and inputs and a log of every request.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from obs_integration.obs_websocket import (
    ObsAuthError,
    ObsConnectionError,
    ObsError,
    ObsRequestError,
    ObsWebSocket,
    auth_string,
    browser_source_settings,
    overlay_url,
    setup_overlay,
    setup_overlay_async,
)
from plugin_server.cli import obs as obs_cli

OVERLAY = "http://127.0.0.1:8765/overlay"


def _expected_auth(password: str, salt: str, challenge: str) -> str:
    # the protocol document's recipe, spelled out independently of the code under test
    secret_hash = hashlib.sha256((password + salt).encode()).digest()
    secret = base64.b64encode(secret_hash).decode()
    return base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()


@dataclass
class FakeObs:
    """An obs-websocket v5 server with scenes, inputs and a request log (see the module doc)."""

    password: str | None = "hunter2"
    scenes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"Scene": [], "Gaming": []})
    program: str = "Gaming"
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    subprotocols: list[str | None] = field(default_factory=list)
    port: int = 0
    _next_item: int = 1

    async def handler(self, ws: ServerConnection) -> None:
        self.subprotocols.append(ws.subprotocol)
        hello: dict[str, Any] = {
            "obsStudioVersion": "31.0.0",
            "obsWebSocketVersion": "5.5.4",
            "rpcVersion": 1,
        }
        salt, challenge = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        if self.password is not None:
            hello["authentication"] = {"challenge": challenge, "salt": salt}
        await ws.send(json.dumps({"op": 0, "d": hello}))
        try:
            identify = json.loads(await ws.recv())
            assert identify["op"] == 1, identify
            self.identifies.append(identify["d"])
            if identify["d"].get("rpcVersion") != 1:
                await ws.close(4009, "unsupported rpc version")
                return
            if self.password is not None and identify["d"].get("authentication") != _expected_auth(
                self.password, salt, challenge
            ):
                await ws.close(4008, "Authentication failed.")
                return
            await ws.send(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
            # an event the client must skip (it subscribed to none, but OBS may still send some)
            await ws.send(json.dumps({"op": 5, "d": {"eventType": "ExitStarted", "eventIntent": 1}}))
            async for frame in ws:
                msg = json.loads(frame)
                assert msg["op"] == 6, msg
                d = msg["d"]
                data = d.get("requestData") or {}
                self.requests.append((d["requestType"], copy.deepcopy(data)))
                code, comment, response = self.answer(d["requestType"], data)
                status: dict[str, Any] = {"result": code == 100, "code": code}
                if comment:
                    status["comment"] = comment
                out = {"requestType": d["requestType"], "requestId": d["requestId"], "requestStatus": status}
                if response is not None:
                    out["responseData"] = response
                await ws.send(json.dumps({"op": 7, "d": out}))
        except ConnectionClosed:
            pass

    def answer(self, kind: str, data: dict[str, Any]) -> tuple[int, str | None, dict[str, Any] | None]:
        if kind == "GetCurrentProgramScene":
            return 100, None, {"sceneName": self.program, "currentProgramSceneName": self.program}
        if kind == "GetSceneItemList":
            if data.get("sceneName") not in self.scenes:
                return 600, "No source was found by the name of `sceneName`.", None
            return 100, None, {"sceneItems": copy.deepcopy(self.scenes[data["sceneName"]])}
        if kind == "GetInputList":
            inputs = [
                {"inputName": n, "inputKind": i["kind"], "unversionedInputKind": i["kind"]}
                for n, i in self.inputs.items()
            ]
            return 100, None, {"inputs": inputs}
        if kind == "CreateInput":
            if data.get("sceneName") not in self.scenes:
                return 600, "No source was found by the name of `sceneName`.", None
            if data["inputName"] in self.inputs:
                return 601, "A source already exists by that input name.", None
            self.inputs[data["inputName"]] = {
                "kind": data["inputKind"],
                "settings": dict(data["inputSettings"]),
            }
            item = self._add_item(data["sceneName"], data["inputName"], data.get("sceneItemEnabled", True))
            return 100, None, {"inputUuid": "uuid-" + data["inputName"], "sceneItemId": item}
        if kind == "SetInputSettings":
            if data.get("inputName") not in self.inputs:
                return 600, "No source was found by the name of `inputName`.", None
            target = self.inputs[data["inputName"]]
            if data.get("overlay", True):
                target["settings"].update(data["inputSettings"])
            else:
                target["settings"] = dict(data["inputSettings"])
            return 100, None, None
        if kind == "CreateSceneItem":
            if data.get("sceneName") not in self.scenes or data.get("sourceName") not in self.inputs:
                return 600, "No source was found.", None
            item = self._add_item(data["sceneName"], data["sourceName"], data.get("sceneItemEnabled", True))
            return 100, None, {"sceneItemId": item}
        if kind == "SetSceneItemEnabled":
            for entry in self.scenes.get(data.get("sceneName", ""), []):
                if entry["sceneItemId"] == data.get("sceneItemId"):
                    entry["sceneItemEnabled"] = data["sceneItemEnabled"]
                    return 100, None, None
            return 600, "No scene items were found.", None
        return 204, "Your request type is not valid.", None

    def _add_item(self, scene: str, source: str, enabled: bool) -> int:
        item_id = self._next_item
        self._next_item += 1
        self.scenes[scene].append({"sceneItemId": item_id, "sourceName": source, "sceneItemEnabled": enabled})
        return item_id

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kinds(self) -> list[str]:
        return [k for k, _ in self.requests]


@contextlib.contextmanager
def fake_obs(**kwargs: Any) -> Iterator[FakeObs]:
    """A FakeObs listening on 127.0.0.1 (a free port) on its own event loop thread."""
    obs = FakeObs(**kwargs)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        stop = loop.create_future()
        async with serve(obs.handler, "127.0.0.1", 0, subprotocols=["obswebsocket.json"]) as server:  # type: ignore[list-item]
            obs.port = server.sockets[0].getsockname()[1]
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield obs
    finally:

        def finish() -> None:
            if stop is not None and not stop.done():
                stop.set_result(None)

        loop.call_soon_threadsafe(finish)
        thread.join(10)
        loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------------- the client
def test_auth_string_follows_the_protocol_recipe() -> None:
    for password, salt, challenge in [("supersecretpassword", "lM1Gnc=", "+IxH4C="), ("pässwörd", "s", "c")]:
        assert auth_string(password, salt, challenge) == _expected_auth(password, salt, challenge)


def test_client_identifies_and_makes_requests() -> None:
    with fake_obs() as obs:

        async def main() -> None:
            async with ObsWebSocket(obs.url, "hunter2") as client:
                assert client.hello["rpcVersion"] == 1
                scene = await client.request("GetCurrentProgramScene")
                assert scene["sceneName"] == "Gaming"
                with pytest.raises(ObsRequestError) as refused:
                    await client.request("GetSceneItemList", {"sceneName": "Nope"})
                assert refused.value.code == 600 and "sceneName" in str(refused.value)
                assert "GetSceneItemList" in str(refused.value)

        asyncio.run(main())
    assert obs.subprotocols == ["obswebsocket.json"]
    assert obs.identifies[0]["rpcVersion"] == 1 and obs.identifies[0]["eventSubscriptions"] == 0


# ----------------------------------------------------------------------------------- the setup
def test_setup_creates_the_browser_source_in_the_program_scene_and_is_idempotent() -> None:
    url = overlay_url("http://127.0.0.1:8765", token="s3cret")
    assert url == "http://127.0.0.1:8765/overlay?token=s3cret"
    with fake_obs() as obs:
        summary = setup_overlay(obs.url, "hunter2", url, width=640, height=480)
        assert "created" in summary and "'Avatar Forcing'" in summary and "'Gaming'" in summary
        assert obs.kinds() == ["GetCurrentProgramScene", "GetSceneItemList", "GetInputList", "CreateInput"]
        created = obs.requests[-1][1]
        assert created["sceneName"] == "Gaming" and created["inputName"] == "Avatar Forcing"
        assert created["inputKind"] == "browser_source" and created["sceneItemEnabled"] is True
        assert created["inputSettings"] == browser_source_settings(url, 640, 480)
        settings = obs.inputs["Avatar Forcing"]["settings"]
        assert settings["url"] == url and (settings["width"], settings["height"]) == (640, 480)
        assert settings["shutdown"] is False and settings["css"] == ""
        assert [i["sourceName"] for i in obs.scenes["Gaming"]] == ["Avatar Forcing"]

        # again, with another URL and size: the same source is updated, nothing is duplicated
        obs.requests.clear()
        url2 = overlay_url("http://127.0.0.1:9000", mode="frames", renderer="portrait")
        assert url2 == "http://127.0.0.1:9000/overlay?mode=frames&renderer=portrait"
        summary = setup_overlay(obs.url, "hunter2", url2, width=512, height=512)
        assert "updated" in summary and "'Gaming'" in summary
        assert "CreateInput" not in obs.kinds() and "CreateSceneItem" not in obs.kinds()
        update = dict(obs.requests)["SetInputSettings"]
        assert update["inputName"] == "Avatar Forcing" and update["overlay"] is True
        assert obs.inputs["Avatar Forcing"]["settings"]["url"] == url2
        assert obs.inputs["Avatar Forcing"]["settings"]["width"] == 512
        assert len(obs.scenes["Gaming"]) == 1 and len(obs.inputs) == 1

        # a named scene that does not hold it yet: the existing input is added there
        summary = setup_overlay(obs.url, "hunter2", url2, scene="Scene")
        assert "added it to scene 'Scene'" in summary
        assert [i["sourceName"] for i in obs.scenes["Scene"]] == ["Avatar Forcing"]
        # hidden by hand in OBS: made visible again
        obs.scenes["Scene"][0]["sceneItemEnabled"] = False
        summary = setup_overlay(obs.url, "hunter2", url2, scene="Scene")
        assert "made it visible" in summary and obs.scenes["Scene"][0]["sceneItemEnabled"] is True


def test_setup_errors_name_what_was_wrong() -> None:
    with fake_obs() as obs:
        with pytest.raises(ObsAuthError, match=r"refused the password.*Tools > WebSocket Server Settings"):
            setup_overlay(obs.url, "wrong", OVERLAY)
        with pytest.raises(ObsAuthError, match=r"requires a password.*OBS_WEBSOCKET_PASSWORD"):
            setup_overlay(obs.url, None, OVERLAY)
        with pytest.raises(ObsError, match="no scene named 'Nope'"):
            setup_overlay(obs.url, "hunter2", OVERLAY, scene="Nope")
        obs.inputs["Avatar Forcing"] = {"kind": "image_source", "settings": {}}
        with pytest.raises(ObsError, match=r"image_source, not a browser source.*--source-name"):
            setup_overlay(obs.url, "hunter2", OVERLAY)
        assert "CreateInput" not in obs.kinds() and "SetInputSettings" not in obs.kinds()
    with fake_obs(password=None) as obs:  # authentication off: a password given is simply not used
        assert "created" in setup_overlay(obs.url, "unused", OVERLAY, source_name="Avatar")
        assert "authentication" not in obs.identifies[0]
    port = _free_port()  # nothing listens there
    with pytest.raises(ObsConnectionError, match=r"cannot connect to OBS.*Enable WebSocket server"):
        setup_overlay(f"ws://127.0.0.1:{port}", "hunter2", OVERLAY, timeout=3.0)
    with pytest.raises(ObsConnectionError, match="not a websocket URL"):
        setup_overlay("http://127.0.0.1:4455", None, OVERLAY)


def test_setup_async_inside_a_running_loop() -> None:
    with fake_obs() as obs:
        summary = asyncio.run(setup_overlay_async(obs.url, "hunter2", OVERLAY, source_name="Avatar 2"))
        assert "created" in summary and obs.inputs["Avatar 2"]["settings"]["url"] == OVERLAY


def test_overlay_url() -> None:
    assert overlay_url() == OVERLAY
    assert overlay_url("ws://127.0.0.1:8765/") == OVERLAY
    assert overlay_url("127.0.0.1:8765", session="abc") == OVERLAY + "?session=abc"
    assert overlay_url("https://host:9", delay=250, debug=None) == "https://host:9/overlay?delay=250"
    with pytest.raises(ValueError, match="must look like"):
        overlay_url("ftp://host")


# ----------------------------------------------------------------------------------- the CLI
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    obs_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_obs_setup(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBS_WEBSOCKET_PASSWORD", raising=False)
    monkeypatch.delenv("AVATAR_FORCING_TOKEN", raising=False)
    with fake_obs() as obs:
        args = _args("--obs-url", obs.url, "--password", "hunter2", "--mode", "frames", "--width", "384")
        assert obs_cli.run(args) == 0
        out = capsys.readouterr().out
        assert "created the browser source 'Avatar Forcing' in scene 'Gaming'" in out
        settings = obs.inputs["Avatar Forcing"]["settings"]
        assert settings["url"] == "http://127.0.0.1:8765/overlay?mode=frames&size=384"
        assert (settings["width"], settings["height"]) == (384, 512)
        assert obs_cli.run(args) == 0  # idempotent
        assert "updated" in capsys.readouterr().out and len(obs.inputs) == 1

        monkeypatch.setenv("OBS_WEBSOCKET_PASSWORD", "hunter2")  # the password's default
        args = _args("--obs-url", obs.url, "--scene", "Scene", "--session", "local", "--token", "tok")
        assert obs_cli.run(args) == 0
        out = capsys.readouterr().out
        assert "token" in out
        assert obs.inputs["Avatar Forcing"]["settings"]["url"] == (
            "http://127.0.0.1:8765/overlay?session=local&token=tok"
        )

        assert obs_cli.run(_args("--obs-url", obs.url, "--password", "nope")) == 2
        assert "refused the password" in capsys.readouterr().err
    assert obs_cli.run(_args("--obs-url", f"ws://127.0.0.1:{_free_port()}", "--timeout", "3")) == 2
    assert "Tools > WebSocket Server Settings" in capsys.readouterr().err
    assert obs_cli.run(_args("--width", "0")) == 2
    assert obs_cli.run(_args("--renderer", "portrait")) == 2  # frames mode only
    assert obs_cli.run(_args("--server", "ftp://x", "--url-only")) == 2
    capsys.readouterr()
    assert obs_cli.run(_args("--url-only", "--server", "http://127.0.0.1:9000", "--mode", "frames")) == 0
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:9000/overlay?mode=frames"
