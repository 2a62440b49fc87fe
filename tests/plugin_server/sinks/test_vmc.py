"""The VMC sender against a real python-osc UDP receiver on 127.0.0.1."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="the sinks extra is needed: pip install -e .[sinks]")

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.parsing import osc_types

from models.motion.arkit import ARKIT_BLENDSHAPES, INDEX, ArkitSpace
from plugin_server.sinks import MotionFrame, create_sink
from plugin_server.sinks.vmc import VMCSink
from plugin_server.sinks.vrm import VRM0_PRESETS, arkit_to_vrm0


class RecordingDispatcher(Dispatcher):
    """Keeps every raw datagram and every decoded message (address, args) the server handled."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.datagrams: list[bytes] = []
        self.messages: list[tuple[str, tuple[Any, ...]]] = []
        self.map("/VMC/*", self._on_message)

    def _on_message(self, address: str, *args: Any) -> None:
        with self.lock:
            self.messages.append((address, args))

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        with self.lock:
            self.datagrams.append(bytes(data))
        return super().call_handlers_for_packet(data, client_address)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.datagrams) >= n:
                    return list(self.datagrams)
            time.sleep(0.005)
        with self.lock:
            return list(self.datagrams)


@pytest.fixture
def receiver() -> Iterator[tuple[RecordingDispatcher, int]]:
    dispatcher = RecordingDispatcher()
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield dispatcher, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def decode(datagram: bytes) -> list[tuple[str, str, list[Any]]]:
    """A bundle -> [(address, type tags, args)] in order (type tags read from the wire)."""
    assert OscBundle.dgram_is_bundle(datagram)
    out = []
    for msg in OscBundle(datagram):
        address, index = osc_types.get_string(msg.dgram, 0)
        tags = osc_types.get_string(msg.dgram, index)[0] if msg.dgram[index:] else ","
        out.append((address, tags, msg.params))
    return out


def talking_frame(i: int) -> MotionFrame:
    values = ArkitSpace.from_dicts(
        [{"JawOpen": 0.5 + 0.05 * i, "EyeBlinkLeft": 0.9, "EyeBlinkRight": 0.9, "MouthSmileLeft": 0.3}]
    )[0]
    values[INDEX["HeadYaw"]] = 30.0
    return MotionFrame(i, 1.5 + i / 25, values)


def test_one_bundle_per_frame_with_float_values_in_order(receiver: tuple[RecordingDispatcher, int]) -> None:
    dispatcher, port = receiver
    frames = [talking_frame(i) for i in range(5)]
    with create_sink("vmc", host="127.0.0.1", port=port) as sink:
        for f in frames:
            sink.submit(f)
            time.sleep(0.01)
        datagrams = dispatcher.wait_for(len(frames))
        time.sleep(0.1)
    assert len(dispatcher.datagrams) == len(frames) == sink.stats.sent
    assert sink.stats.dropped == 0 and sink.stats.errors == 0

    s, c = math.sin(math.radians(15)), math.cos(math.radians(15))
    for f, datagram in zip(frames, datagrams, strict=True):
        msgs = decode(datagram)
        addresses = [a for a, _, _ in msgs]
        assert addresses[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Bone/Pos"]
        assert addresses[-1] == "/VMC/Ext/Blend/Apply" and msgs[-1][1] == ","
        assert msgs[0][1:] == (",i", [1])
        assert msgs[1][1] == ",f" and msgs[1][2][0] == pytest.approx(f.timestamp)
        bone = msgs[2]
        assert bone[1] == ",sfffffff" and bone[2][0] == "Head"
        assert bone[2][4:] == pytest.approx([0.0, -s, 0.0, c], abs=1e-6)  # yaw 30 -> Unity -30 about y
        vals = [(args[0], args[1]) for a, tags, args in msgs if a == "/VMC/Ext/Blend/Val" and tags == ",sf"]
        assert len(vals) == sum(a == "/VMC/Ext/Blend/Val" for a in addresses) == len(VRM0_PRESETS)
        assert [n for n, _ in vals] == list(VRM0_PRESETS)
        expected = arkit_to_vrm0(f.values)
        for name, value in vals:
            assert value == pytest.approx(expected[name], abs=1e-6)
        assert max(i for i, a in enumerate(addresses) if a == "/VMC/Ext/Blend/Val") < len(addresses) - 1
    # python-osc's dispatcher decoded every message of every bundle too
    with dispatcher.lock:
        applied = [m for m in dispatcher.messages if m[0] == "/VMC/Ext/Blend/Apply"]
        blink = [args for a, args in dispatcher.messages if a == "/VMC/Ext/Blend/Val" and args[0] == "Blink"]
    assert len(applied) == len(frames)
    assert all(isinstance(args[1], float) and args[1] == pytest.approx(0.9) for args in blink)


def test_perfect_sync_sends_the_52_arkit_names(receiver: tuple[RecordingDispatcher, int]) -> None:
    dispatcher, port = receiver
    with VMCSink(port=port, perfect_sync=True, perfect_sync_spelling="camel", vrm_presets=False) as sink:
        sink.submit(MotionFrame(0, 0.0, np.full(58, 0.25, np.float32)))
        (datagram,) = dispatcher.wait_for(1)
    vals = {args[0]: (tags, args[1]) for a, tags, args in decode(datagram) if a == "/VMC/Ext/Blend/Val"}
    assert len(vals) == len(ARKIT_BLENDSHAPES) == 52
    assert vals["eyeBlinkLeft"] == (",sf", 0.25) and vals["tongueOut"] == (",sf", 0.25)
    assert "A" not in vals


def test_submit_never_blocks_without_a_receiver() -> None:
    # No receiver at all on this port: UDP send still succeeds, submit stays instant.
    sink = VMCSink(port=9, queue_size=4)
    with sink:
        t0 = time.perf_counter()
        for i in range(100):
            sink.submit(talking_frame(i % 10))
        assert time.perf_counter() - t0 < 0.1
    stats = sink.stats
    assert stats.sent + stats.dropped + stats.errors == 100
