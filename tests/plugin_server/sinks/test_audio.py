"""Local audio: the A/V-offset timeline, and playback/capture through PortAudio on ALSA null devices.

The device tests need the PortAudio library (Debian: libportaudio2). The ``alsa_home`` fixture
(tests/plugin_server/alsa.py) writes an ``.asoundrc`` into a temporary HOME defining ALSA ``null``
and ``file`` PCMs, so PortAudio sees real devices on
a machine without a sound card: playback goes through PortAudio -> ALSA -> a raw file that the test
reads back, capture reads a known ramp signal from a file. These ALSA devices do not run at
real-time pace (they produce/consume samples as fast as asked), so the tests check positions in
samples, never wall-clock timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugin_server.capture import MicrophoneCapture
from plugin_server.sinks import SinkUnavailableError, create_sink
from plugin_server.sinks.audio import AudioPlaybackSink, AudioTimeline, import_sounddevice
from tests.plugin_server.alsa import SR, reinitialise


# ----------------------------------------------------------------------------------- timeline (no device)
def test_timeline_places_chunks_by_timestamp_with_the_delay() -> None:
    tl = AudioTimeline(SR, delay_samples=100)
    tl.write(np.ones(50, np.float32), timestamp=10.0)  # anchors t=10 s at position 0
    tl.write(np.full(50, 0.5, np.float32), timestamp=10.0 + 200 / SR)
    out = tl.read(400)[:, 0]
    assert (out[:100] == 0).all() and (out[100:150] == 1).all() and (out[150:300] == 0).all()
    assert (out[300:350] == 0.5).all() and (out[350:] == 0).all()
    assert tl.buffered_samples() == 0 and tl.resyncs == 0


def test_timeline_offset_change_shifts_queued_audio() -> None:
    tl = AudioTimeline(SR, delay_samples=0)
    tl.write(np.ones(10, np.float32), timestamp=0.0)
    tl.set_delay(30)  # a larger offset inserts silence before the queued audio
    tl.write(np.full(10, 0.5, np.float32))  # no timestamp: right after the previous chunk
    out = tl.read(60)[:, 0]
    assert np.flatnonzero(out == 1.0).tolist() == list(range(30, 40))
    assert np.flatnonzero(out == 0.5).tolist() == list(range(40, 50))

    ramp = AudioTimeline(SR, delay_samples=50)
    ramp.write(np.arange(100, dtype=np.float32), timestamp=0.0)
    assert ramp.read(60)[50:, 0].tolist() == list(range(10))
    ramp.set_delay(20)  # a smaller offset skips ahead: the audio now plays 30 samples earlier
    assert ramp.read(20)[:, 0].tolist() == list(range(40, 60))
    assert ramp.buffered_samples() == 40


def test_timeline_late_or_runaway_chunks_reanchor() -> None:
    tl = AudioTimeline(SR, delay_samples=20, max_buffer_samples=1000)
    tl.write(np.ones(10, np.float32), timestamp=0.0)
    tl.read(500)  # the device ran on: the next contiguous chunk would start in the past
    tl.write(np.full(10, 0.5, np.float32))
    assert tl.resyncs == 1
    out = tl.read(40)[:, 0]
    assert np.flatnonzero(out).tolist() == list(range(20, 30))  # re-anchored: position + delay
    tl.write(np.ones(10, np.float32), timestamp=100.0)  # far ahead of the play position
    assert tl.resyncs == 2 and tl.buffered_samples() == 30


def test_timeline_converts_int16_and_channels() -> None:
    tl = AudioTimeline(SR, channels=2)
    tl.write(np.array([32767, -32767], np.int16), timestamp=0.0)
    assert tl.read(2) == pytest.approx(np.array([[1.0, 1.0], [-1.0, -1.0]]))
    with pytest.raises(ValueError):
        tl.write(np.zeros((4, 3), np.float32), timestamp=1.0)


def test_missing_sounddevice_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(SinkUnavailableError, match=r"sounddevice package: pip install"):
        import_sounddevice()
    with pytest.raises(SinkUnavailableError, match="sounddevice"):
        AudioPlaybackSink().start()


def test_missing_portaudio_library_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("_sounddevice", reason="the sounddevice package is not installed")
    if sys.platform != "linux":
        pytest.skip("sounddevice's macOS/Windows wheels bundle PortAudio")
    import ctypes.util

    # sounddevice's own loader, run as on a machine without libportaudio2 (find_library -> None).
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    with pytest.raises(SinkUnavailableError, match=r"PortAudio library not found.*apt install libportaudio2"):
        import_sounddevice()


# ----------------------------------------------------------------------------------- real PortAudio devices
def _play(
    device: str, root: Path, name: str, offset_ms: float, set_offset_ms: float | None = None
) -> np.ndarray:
    sink = create_sink("audio", device=device, samplerate=SR, av_offset_ms=offset_ms, blocksize=256)
    assert isinstance(sink, AudioPlaybackSink)
    tone = np.full(1600, 0.5, np.float32)  # 100 ms
    sink.submit_audio(tone, timestamp=0.0)
    sink.submit_audio(tone, timestamp=0.3)
    if set_offset_ms is not None:
        sink.set_av_offset_ms(set_offset_ms)
    sink.start()
    try:
        assert sink.running
        deadline = time.monotonic() + 5
        while sink.position < SR and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        sink.stop()
    stats = sink.stats
    assert stats.sent == 2 and stats.errors == 0 and stats.extra["resyncs"] == 0
    return np.fromfile(root / name, "<i2")


def test_playback_is_delayed_by_the_av_offset(alsa_home: tuple[Any, Path]) -> None:
    _, root = alsa_home
    plain = _play("avatar_out1", root, "out1.raw", offset_ms=0)
    delayed = _play("avatar_out2", root, "out2.raw", offset_ms=100, set_offset_ms=250)

    def onsets(pcm: np.ndarray) -> tuple[int, int]:
        loud = np.flatnonzero(pcm)
        first = int(loud[0])
        second = int(loud[loud >= first + 1600][0])
        assert (pcm[first : first + 1600] == 16384).all() and (pcm[first + 1600 : second] == 0).all()
        return first, second

    a0, a1 = onsets(plain)
    b0, b1 = onsets(delayed)
    assert a1 - a0 == b1 - b0 == round(0.3 * SR)  # chunks land at their timestamps
    assert b0 - a0 == round(0.25 * SR)  # exactly the A/V offset (set after queueing)


def test_missing_device_lists_the_devices(alsa_home: tuple[Any, Path]) -> None:
    with pytest.raises(SinkUnavailableError, match=r"(?s)no output audio device 'no_such_card'.*avatar_out1"):
        AudioPlaybackSink(device="no_such_card").start()
    with pytest.raises(
        SinkUnavailableError, match=r"(?s)no input audio device 'no_such_mic'.*avatar_mic"
    ) as info:
        MicrophoneCapture(device="no_such_mic").start()
    assert "(in 128, out 128) [ALSA]" in str(info.value)


def test_no_device_at_all_is_explained(alsa_home: tuple[Any, Path], tmp_path: Path) -> None:
    sd, _ = alsa_home
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path))  # no .asoundrc: no sound card, no device
        reinitialise(sd)
        try:
            if len(sd.query_devices()) > 0:
                pytest.skip("this machine has a real audio device")
            with pytest.raises(SinkUnavailableError, match=r"(?s)PortAudio found no audio device.*asoundrc"):
                AudioPlaybackSink().start()
        finally:
            mp.undo()
            reinitialise(sd)


def test_the_microphone_moved_to_capture_and_is_still_importable_here() -> None:
    from plugin_server.sinks import audio

    assert audio.MicrophoneCapture is MicrophoneCapture
    with pytest.raises(AttributeError):
        audio.NoSuchThing  # noqa: B018
