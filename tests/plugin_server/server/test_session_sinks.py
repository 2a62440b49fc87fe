"""Sinks from a session's own config (`"sinks": [...]`): a real OSC receiver gets that session's VMC."""

from __future__ import annotations

import asyncio

import pytest

from models.bundle import AvatarForcingModel
from plugin_server.protocol import Ack, Config, Error
from plugin_server.server.client import AvatarClient, stream_audio
from tests.plugin_server.sinks.test_vmc import RecordingDispatcher, receiver  # noqa: F401 (fixture)

from .conftest import run, serving, speech

pytest.importorskip("pythonosc", reason="the sinks extra is needed: pip install -e .[sinks]")


def test_a_session_drives_its_own_vmc_receiver(
    model: AvatarForcingModel,
    receiver: tuple[RecordingDispatcher, int],  # noqa: F811 (the imported fixture)
) -> None:
    dispatcher, port = receiver

    async def main() -> None:
        async with serving(model) as server:
            client = AvatarClient(server.url)
            await client.connect()
            for i, (cfg, code) in enumerate(
                [
                    ({"sinks": [{"name": "nope"}]}, "bad_config"),
                    ({"sinks": [{"name": "vmc", "port": "x"}]}, "bad_config"),
                    ({"sinks": [{"name": "vmc", "colour": 1}]}, "bad_config"),
                    ({"sinks": [{"port": 1}]}, "bad_config"),
                ]
            ):
                await client.send(Config(id=10 + i, config=cfg))
                reply = await client.recv(timeout=5)
                assert isinstance(reply, Error) and reply.code == code and reply.msg_id == 10 + i, reply
            sinks = [{"name": "vmc", "host": "127.0.0.1", "port": port}]
            result = await stream_audio(
                server.url,
                (speech(1.2, 16000), 16000),
                client=client,
                config={"seed": 1, "sinks": sinks},
                tail_s=0.4,
            )
            assert any(isinstance(a, Ack) and a.config and a.config["sinks"] == sinks for a in result.acks)
            assert not [e for e in result.errors if e.msg_id is not None]
            assert server.health()["session_sinks"][client.session_id]["frames_in"] > 10
            got = await asyncio.to_thread(dispatcher.wait_for, 10)
            assert len(got) >= 10  # one OSC bundle per frame, from this session's own sink
            await client.bye()
            await asyncio.sleep(0.2)
            assert server.health()["session_sinks"] == {}  # stopped with the session

    run(main())


def test_servers_off_loopback_take_no_client_sinks(model: AvatarForcingModel) -> None:
    async def main() -> None:
        async with serving(model, session_sinks=()) as server:  # what a non-loopback bind gets
            client = AvatarClient(server.url)
            await client.connect()
            await client.send(Config(id=1, config={"sinks": [{"name": "vmc"}]}))
            reply = await client.recv(timeout=5)
            assert isinstance(reply, Error) and "allowed: none" in reply.message
            await client.bye()

    run(main())
