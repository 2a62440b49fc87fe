"""The sink interface pieces: MotionFrame, the drop-oldest queue, ThreadedSink back-pressure, the registry."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from plugin_server.sinks import (
    DropOldestQueue,
    MotionFrame,
    QueueClosedError,
    QueueEmptyError,
    SinkConfigError,
    ThreadedSink,
    available_sinks,
    create_sink,
    parse_sink_spec,
    register_sink,
)
from plugin_server.sinks.base import _REGISTRY


def frame(i: int = 0, **named: float) -> MotionFrame:
    return MotionFrame.from_named(i, i / 25, named)


def test_motion_frame_is_a_read_only_float32_copy() -> None:
    source = np.arange(58, dtype=np.float64)
    f = MotionFrame(3, 0.12, source)
    source[0] = 99
    assert f.values.dtype == np.float32 and f.values.shape == (58,) and f.values[0] == 0
    with pytest.raises(ValueError):
        f.values[1] = 5
    assert f.named()["HeadZ"] == 57.0
    assert frame(1, eyeBlink_L=0.5).named()["EyeBlinkLeft"] == 0.5
    with pytest.raises(ValueError, match="58 ARKit channels"):
        MotionFrame(0, 0.0, np.zeros(52))


def test_drop_oldest_queue() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    assert [q.put(i) for i in range(5)] == [0, 0, 0, 1, 1]
    assert q.dropped == 2 and len(q) == 3
    assert q.get(0) == 2
    assert q.get_latest(0) == (4, 1)  # 3 skipped as stale
    assert q.dropped == 3
    with pytest.raises(QueueEmptyError):
        q.get(timeout=0.01)
    q.put(7)
    q.close()
    assert q.dropped == 4  # the queued 7 is discarded by close
    with pytest.raises(QueueClosedError):
        q.get(timeout=1)
    assert q.put(8) == 1


def test_drop_oldest_queue_wakes_a_blocked_consumer_on_close() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(2)
    got: list[BaseException] = []

    def consume() -> None:
        try:
            q.get()
        except QueueClosedError as exc:
            got.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(2)
    assert not t.is_alive() and len(got) == 1


class SlowSink(ThreadedSink[MotionFrame]):
    """A sink whose peer takes 40 ms per frame (slower than 25 fps)."""

    name = "slow-test"

    def __init__(self, *, queue_size: int = 3, delay: float = 0.04) -> None:
        super().__init__(queue_size=queue_size)
        self.delay = delay
        self.delivered: list[int] = []
        self.attempted: list[int] = []

    def _open(self) -> None:
        pass

    def _deliver(self, item: MotionFrame) -> None:
        self.attempted.append(item.index)
        time.sleep(self.delay)
        if item.index == 13:
            raise OSError("peer hiccup")
        self.delivered.append(item.index)


def test_slow_sink_drops_oldest_counts_it_and_never_blocks_the_producer() -> None:
    sink = SlowSink(queue_size=3)
    sink.submit(frame(0))
    assert sink.stats.dropped == 1  # not started: dropped, not queued
    with sink:
        t0 = time.perf_counter()
        for i in range(1, 31):
            sink.submit(frame(i))
        submit_time = time.perf_counter() - t0
        deadline = time.monotonic() + 3
        while sink._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
    stats = sink.stats
    assert submit_time < 0.05, submit_time  # 30 submits against a 40 ms/frame peer
    assert stats.dropped > 10
    assert 30 in sink.delivered  # the newest frame always survives
    assert sink.delivered == sorted(sink.delivered)
    assert stats.sent == len(sink.delivered)
    assert stats.errors == sink.attempted.count(13)  # a failing delivery is counted, not raised
    assert stats.sent + stats.dropped + stats.errors == 31


def test_registry_lists_valid_names_and_options() -> None:
    assert {"vmc", "vtube_studio", "virtual_camera", "audio"} <= set(available_sinks())
    with pytest.raises(SinkConfigError, match=r"unknown sink 'nope'; valid sinks: .*vmc"):
        create_sink("nope")
    with pytest.raises(SinkConfigError, match=r"unknown option\(s\) \['bogus'\]; valid options: .*'port'"):
        create_sink("vmc", bogus=1)
    with pytest.raises(SinkConfigError, match="port='abc' is not a valid int"):
        create_sink("vmc", port="abc")


def test_cli_spec_and_string_options_are_typed() -> None:
    pytest.importorskip("pythonosc")
    name, options = parse_sink_spec("vmc:host=127.0.0.1, port=39540,perfect-sync=yes")
    assert (name, options) == ("vmc", {"host": "127.0.0.1", "port": "39540", "perfect_sync": "yes"})
    sink = create_sink(name, **options)
    assert sink.port == 39540 and sink.perfect_sync is True  # type: ignore[attr-defined]
    assert create_sink("VMC", port=1).port == 1  # type: ignore[attr-defined]
    with pytest.raises(SinkConfigError, match="KEY=VALUE"):
        parse_sink_spec("vmc:port")


def test_register_custom_sink() -> None:
    try:

        @register_sink("slow-test")
        class Custom(SlowSink):
            pass

        assert "slow_test" in available_sinks()
        sink = create_sink("slow-test", queue_size="5", delay="0.001")
        assert isinstance(sink, Custom) and sink._queue.maxsize == 5 and sink.delay == 0.001
        with pytest.raises(SinkConfigError, match="already registered"):
            register_sink("slow_test")(SlowSink)
    finally:
        _REGISTRY.pop("slow_test", None)
