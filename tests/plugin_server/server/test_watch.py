"""Watching connections (`hello {"watch": ...}`): read-only views of a session for overlays."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from models.bundle import AvatarForcingModel
from models.render import Renderer, register_renderer
from plugin_server.protocol import Ack, Audio, Config, Error, Motion, RenderedFrame, TurnEvent
from plugin_server.server.client import AvatarClient, HandshakeError, stream_audio
from plugin_server.server.watchers import CLOSE_SESSION_ENDED

from .conftest import run, serving, speech


@register_renderer("test_jaw", replace=True)
class JawRenderer(Renderer):
    """A real `models.render.Renderer`: a flat image whose grey level is JawOpen."""

    def render(self, frame: np.ndarray) -> np.ndarray:
        return np.full((self.config.height, self.config.width, 4), int(255 * frame[17]), np.uint8)

    def regions(self) -> dict[str, tuple[int, int, int, int]]:
        return {}


def _values(msgs: list[Motion]) -> dict[int, list[float]]:
    return {m.frame + i: row for m in msgs for i, row in enumerate(m.values)}


async def _collect(client: AvatarClient, seconds: float) -> list:
    out = []
    async for _, msg in client.messages_until(time.monotonic() + seconds):
        out.append(msg)
    return out


def test_watcher_sees_the_session_motion_and_events(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server:
            driver = AvatarClient(server.url)
            await driver.connect()
            watcher = AvatarClient(server.url, binary=False)  # JSON frames: a browser overlay's choice
            welcome = await watcher.connect(watch=driver.session_id)
            assert welcome.session_id == driver.session_id and "watch" in welcome.capabilities
            assert welcome.config["outputs"] == ["motion", "events"]
            watched: list = []

            async def watch() -> None:
                async for _, msg in watcher.messages_until(time.monotonic() + 2.6):
                    watched.append(msg)

            task = asyncio.create_task(watch())
            result = await stream_audio(
                server.url, (speech(1.6, 16000), 16000), client=driver, config={"seed": 1}, tail_s=0.4
            )
            await task
            assert server.health()["watch"]["watchers"] == 1
            mine = _values(result.motion)
            seen = _values([m for m in watched if isinstance(m, Motion)])
            common = sorted(set(mine) & set(seen))
            assert len(common) >= 25, (len(mine), len(seen))
            assert all(seen[k] == pytest.approx(mine[k], abs=1e-6) for k in common)
            events = [m.event for m in watched if isinstance(m, TurnEvent)]
            assert "avatar_started" in events  # from a client cue, copied as it happened
            await driver.bye()
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(100):
                    await watcher.recv(timeout=2.0)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_SESSION_ENDED

    run(main())


def test_watcher_frames_with_its_own_renderer_and_refusals(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server:
            driver = AvatarClient(server.url)
            await driver.connect()
            watcher = AvatarClient(server.url)
            await watcher.connect(watch=driver.session_id)
            bad = [
                ({"outputs": ["audio"]}, "bad_config"),
                ({"outputs": ["frames"], "renderer": "nope"}, "bad_config"),
                (
                    {"outputs": ["frames"], "renderer": "test_jaw", "renderer_options": {"depth": 3}},
                    "bad_config",
                ),
                ({"naming": "klingon"}, "bad_config"),
            ]
            for i, (cfg, code) in enumerate(bad):
                await watcher.send(Config(id=100 + i, config=cfg))
                reply = await watcher.recv(timeout=5.0)
                assert isinstance(reply, Error) and reply.code == code and reply.msg_id == 100 + i, reply
            await watcher.send(
                Audio(id=7, stream="avatar", seq=0, format="s16le", rate=16000, data=bytes(640))
            )
            reply = await watcher.recv(timeout=5.0)
            assert isinstance(reply, Error) and reply.code == "bad_state" and "watcher" in reply.message
            view = {
                "outputs": ["frames"],
                "renderer": "test_jaw",
                "renderer_options": {"width": 32, "height": 16},
            }
            await watcher.send(Config(id=1, config={**view, "frame_format": "rgba"}))
            ack = await watcher.recv(timeout=5.0)
            assert isinstance(ack, Ack) and ack.config["renderer"] == "test_jaw"
            watched: list = []

            async def watch() -> None:
                async for _, msg in watcher.messages_until(time.monotonic() + 2.2):
                    watched.append(msg)

            task = asyncio.create_task(watch())
            result = await stream_audio(
                server.url, (speech(1.2, 16000), 16000), client=driver, config={"seed": 2}, tail_s=0.4
            )
            await task
            frames = [m for m in watched if isinstance(m, RenderedFrame)]
            assert len(frames) >= 20 and not [m for m in watched if isinstance(m, Motion)]
            assert all(
                (f.width, f.height, f.format, len(f.data)) == (32, 16, "rgba", 32 * 16 * 4) for f in frames
            )
            jaw = {m.frame + i: row[17] for m in result.motion for i, row in enumerate(m.values)}
            for f in frames:
                if f.frame in jaw:
                    assert f.data[0] == int(255 * np.float32(jaw[f.frame]))
            await driver.bye()

    run(main())


def test_watch_follows_the_sinks_session_and_unknown_ids_are_refused(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model) as server:
            nobody = AvatarClient(server.url)
            with pytest.raises(HandshakeError) as refused:
                await nobody.connect(watch="no-such-session")
            assert refused.value.error.code == "unknown_session" and refused.value.error.fatal
            follower = AvatarClient(server.url)
            welcome = await follower.connect(watch="*")  # before any session exists
            assert welcome.session_id == "*"
            driver = AvatarClient(server.url)
            await driver.connect()
            task = asyncio.create_task(_collect(follower, 1.8))
            await stream_audio(
                server.url, (speech(1.0, 16000), 16000), client=driver, config={"seed": 3}, tail_s=0.3
            )
            watched = await task
            motion = [m for m in watched if isinstance(m, Motion)]
            assert len(motion) >= 5 and motion[0].names[17] == "JawOpen"
            await driver.bye()
            await follower.close()

    run(main())


def test_a_sessions_own_frames_are_drawn_when_sent(model: AvatarForcingModel) -> None:
    """The `frames` output of a session: queued undrawn, drawn by the sender (off the generation
    thread), each image matching its motion frame."""

    async def main() -> None:
        async with serving(model) as server:
            client = AvatarClient(server.url)
            await client.connect()
            view = {
                "renderer": "test_jaw",
                "renderer_options": {"width": 16, "height": 16},
                "frame_format": "rgba",
            }
            result = await stream_audio(
                server.url,
                (speech(1.0, 16000), 16000),
                client=client,
                config={"seed": 4, "outputs": ["motion", "frames"], **view},
                tail_s=0.3,
            )
            frames = result.of(RenderedFrame)
            assert len(frames) >= 20 and all(type(f) is RenderedFrame for f in frames)
            assert all((f.width, f.height, f.format, len(f.data)) == (16, 16, "rgba", 1024) for f in frames)
            jaw = {m.frame + i: row[17] for m in result.motion for i, row in enumerate(m.values)}
            assert all(f.data[0] == int(255 * np.float32(jaw[f.frame])) for f in frames if f.frame in jaw)
            await client.bye()

    run(main())
