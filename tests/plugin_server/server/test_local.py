"""The server's local session (`serve --mic` / `--webcam`): capture sources feed its user side,
websocket clients attach to it by id (`hello.resume`) for the avatar side, and the server drives
it while no client is attached."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from models.bundle import AvatarForcingModel
from plugin_server.protocol import Audio, ClientMessage, Motion, SessionConfig, UserMotion, encode_pcm
from plugin_server.server import LOCAL_SESSION_ID, LocalSession, LocalSessionSpec
from plugin_server.server.client import AvatarClient

from .conftest import ROOT, run, serve_command, serving, spawn_serve, speech


class FakeMic:
    """A capture source without a device: 20-ms chunks of user speech, in real time."""

    name = "fake_mic"

    def __init__(self, rate: int = 22050) -> None:
        self.rate = rate
        self.signal = 0.2 * speech(30.0, rate, seed=2)
        self.started = self.stopped = False
        self._t0 = 0.0
        self._seq = 0

    def start(self) -> None:
        self.started, self._t0 = True, time.monotonic()

    def stop(self) -> None:
        self.stopped = True

    def poll(self) -> list[ClientMessage]:
        n = self.rate // 50
        due = int((time.monotonic() - self._t0) * 50)
        out: list[ClientMessage] = []
        while self._seq < due:
            x = self.signal[(self._seq * n) % (len(self.signal) - n) :][:n]
            out.append(
                Audio(
                    stream="user", seq=self._seq, format="f32le", rate=self.rate, data=encode_pcm(x, "f32le")
                )
            )
            self._seq += 1
        return out

    def stats(self) -> dict[str, Any]:
        return {"messages": self._seq}


class FakeCam(FakeMic):
    name = "fake_cam"

    def poll(self) -> list[ClientMessage]:
        due = int((time.monotonic() - self._t0) * 25)
        if due <= self._seq:
            return []
        frames = [[0.5 + 0.5 * np.sin(i / 5.0)] for i in range(self._seq, due)]
        msg = UserMotion(seq=self._seq, frames=frames, names=["JawOpen"])
        self._seq = due
        return [msg]


def test_local_session_runs_alone_then_with_clients(model: AvatarForcingModel) -> None:
    mic, cam = FakeMic(), FakeCam()
    spec = LocalSessionSpec(sources=(mic, cam), config=SessionConfig(vad="energy"))

    async def main() -> None:
        async with serving(model, local=spec) as server:
            assert mic.started and cam.started
            session = server.registry.get(LOCAL_SESSION_ID)
            assert isinstance(session, LocalSession)
            await asyncio.sleep(0.6)  # no client: the server drives it, the avatar listens
            assert session.blocks_generated >= 2 and session.started and not session.paused
            assert session._user.rate == mic.rate and session._motion_q is not None
            health = server.health()["local_session"]
            assert health["open"] and not health["client_attached"]
            assert health["sources"]["fake_mic"]["messages"] > 10

            for _ in range(2):  # attach, talk, leave (bye) - twice: the session stays
                client = AvatarClient(server.url)
                welcome = await client.connect(resume=LOCAL_SESSION_ID)
                assert welcome.resumed and welcome.session_id == LOCAL_SESSION_ID
                voice = speech(0.4, 24000)
                await client.send(
                    Audio(stream="avatar", seq=0, format="s16le", rate=24000, data=encode_pcm(voice, "s16le"))
                )
                motion: list[Motion] = []
                deadline = time.monotonic() + 10
                while len(motion) < 5 and time.monotonic() < deadline:
                    msg = await client.recv(timeout=5)
                    if isinstance(msg, Motion):
                        motion.append(msg)
                assert len(motion) == 5
                frames = [m.frame for m in motion]
                assert frames == sorted(frames) and frames[0] > 0  # the local clock ran before
                assert server.health()["local_session"]["client_attached"]
                await client.bye()
                with pytest.raises(ConnectionClosed):
                    while True:
                        await client.recv(timeout=5)
                await asyncio.sleep(0.1)
                assert not session.closed and LOCAL_SESSION_ID in server.registry
                assert not server.health()["local_session"]["client_attached"]
            before = session.blocks_generated
            await asyncio.sleep(0.4)
            assert session.blocks_generated > before  # driven by the server again
            assert server.router.owner == LOCAL_SESSION_ID  # the sinks follow the local session
        assert mic.stopped and cam.stopped and session.closed

    run(main())


def test_a_source_that_cannot_start_fails_the_server_start(model: AvatarForcingModel) -> None:
    class Broken(FakeMic):
        def start(self) -> None:
            from plugin_server.capture import CaptureUnavailableError

            raise CaptureUnavailableError("no camera 7")

    good = FakeMic()

    async def main() -> None:
        from plugin_server.server import AvatarServer, ServerConfig
        from plugin_server.sinks import SinkError

        server = AvatarServer(model, ServerConfig(port=0), local=LocalSessionSpec(sources=(good, Broken())))
        with pytest.raises(SinkError, match="no camera 7"):
            await server.start()
        assert good.started and good.stopped  # what had started is closed again

    run(main())


def test_serve_mic_end_to_end(model: AvatarForcingModel, alsa_home: tuple[Any, Path], tmp_path: Path) -> None:
    """`serve --mic DEVICE` (a subprocess on the ALSA file microphone): a client attached to the
    local session receives motion; the session took the mic as user audio."""
    _, home = alsa_home
    cmd, env = serve_command(model, tmp_path, "--mic", "avatar_mic", home=home)
    proc, lines, url = spawn_serve(cmd, env, 5)
    try:
        assert "local session 'local' (mic)" in lines[3], lines

        async def attach() -> tuple[list[Motion], dict]:
            client = AvatarClient(url)
            welcome = await client.connect(resume="local")
            assert welcome.resumed
            motion: list[Motion] = []
            stats = None
            deadline = time.monotonic() + 20
            while (len(motion) < 5 or stats is None) and time.monotonic() < deadline:
                msg = await client.recv(timeout=10)
                if isinstance(msg, Motion):
                    motion.append(msg)
                elif msg.TYPE == "stats":
                    stats = msg
            await client.bye()
            assert stats is not None
            return motion, {"user_audio_s": stats.queues["user_audio_s"]}

        motion, queues = run(attach())
        assert len(motion) >= 5 and np.isfinite(np.asarray(motion[0].values)).all()
        assert queues["user_audio_s"] > 0  # the mic's audio is queued as the user's
        import urllib.request

        with urllib.request.urlopen(url.replace("ws", "http") + "health", timeout=5) as r:
            health = json.load(r)
        mic = health["local_session"]["sources"]["mic"]
        assert mic["chunks"] > 0 and mic["messages"] > 0 and mic["device"] == "avatar_mic"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "stopped" in out


def test_serve_mic_without_the_device_names_the_devices(
    model: AvatarForcingModel, alsa_home: tuple[Any, Path], tmp_path: Path
) -> None:
    _, home = alsa_home
    cmd, env = serve_command(model, tmp_path, "--mic", "nope", home=home)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert re.search(r"(?s)error: no input audio device 'nope'.*avatar_mic", proc.stderr), proc.stderr
