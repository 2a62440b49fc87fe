"""The microphone capture source (plugin_server/capture/microphone.py) on an ALSA file device.

The ALSA devices of ``alsa_home`` (tests/plugin_server/alsa.py) capture far faster than real time,
so these tests check data flow (chunks, sequence numbers, what reaches the session), not timing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.bundle import AvatarForcingModel
from plugin_server.capture import AudioChunk, MicrophoneCapture, MicrophoneSource, parse_device
from plugin_server.protocol import Audio, Motion, SessionConfig
from plugin_server.session import Session
from plugin_server.sinks import SinkUnavailableError
from tests.helpers import small_random_model
from tests.plugin_server.alsa import SR


def test_parse_device() -> None:
    assert parse_device(None) is None and parse_device("") is None
    assert parse_device("3") == 3 and parse_device("USB Mic") == "USB Mic" and parse_device(2) == 2


def test_microphone_chunks_and_drop_oldest(alsa_home: tuple[Any, Path]) -> None:
    mic = MicrophoneCapture(device="avatar_mic", samplerate=SR, blocksize=320, queue_size=8)
    with mic:
        time.sleep(0.05)  # the null device captures far faster than real time: the queue overflows
        chunks: list[AudioChunk] = []
        while (chunk := mic.read(timeout=0)) is not None and len(chunks) < 8:
            chunks.append(chunk)
    stats = mic.stats
    assert len(chunks) == 8 and stats.sent > 8 and stats.dropped >= stats.sent - 8 - 8
    for chunk in chunks:
        assert chunk.pcm.shape == (320, 1) and chunk.pcm.dtype == np.float32
        ramp = np.round(chunk.pcm[:, 0] * 32768).astype(np.int64)
        assert ((np.diff(ramp) % 32768) == 1).all()  # real samples of the ramp file
    frames = [c.frame for c in chunks]
    assert frames == list(range(frames[0], frames[0] + 8 * 320, 320))  # oldest dropped, order kept
    assert [c.timestamp for c in chunks] == pytest.approx([f / SR for f in frames])
    assert mic.read(timeout=0.01) is None  # stopped


def test_chunk_indices_count_callbacks(alsa_home: tuple[Any, Path]) -> None:
    mic = MicrophoneCapture(device="avatar_mic", samplerate=SR, blocksize=320, queue_size=4)
    with mic:
        time.sleep(0.05)
        chunks = [c for c in iter(lambda: mic.read(timeout=0), None)]
    assert len(chunks) == 4
    assert [c.index for c in chunks] == list(range(chunks[0].index, chunks[0].index + 4))
    assert all(c.frame == 320 * c.index for c in chunks)


def test_device_rate_by_default(alsa_home: tuple[Any, Path]) -> None:
    sd, _ = alsa_home
    mic = MicrophoneCapture(device="avatar_mic", samplerate=None, blocksize=None)
    with mic:
        chunk = mic.read(timeout=5)
    rate = round(sd.query_devices("avatar_mic", "input")["default_samplerate"])
    assert mic.rate == rate and chunk is not None and chunk.pcm.shape == (rate // 50, 1)


@pytest.fixture(scope="module")
def model() -> AvatarForcingModel:
    return small_random_model()


def test_source_feeds_the_session_as_user_audio(
    alsa_home: tuple[Any, Path], model: AvatarForcingModel
) -> None:
    """Captured chunks become `audio` messages of the user stream that the session takes as a
    client's (resampled from the device rate, sequence-checked) and the session makes motion."""
    mic = MicrophoneCapture(device="avatar_mic", samplerate=None, blocksize=None, queue_size=200)
    source = MicrophoneSource(mic, max_chunks=500)
    session = Session("s", model, 0.0, config=SessionConfig(vad="energy"))
    source.start()
    try:
        time.sleep(0.05)
        messages = source.poll()
    finally:
        source.stop()
    assert messages and all(isinstance(m, Audio) and m.stream == "user" for m in messages)
    assert {m.rate for m in messages} == {mic.rate} and messages[0].format == "f32le"
    seqs = [m.seq for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    pcm = np.frombuffer(messages[0].data, "<f4")
    assert len(pcm) == mic.rate // 50 and np.isfinite(pcm).all() and np.abs(pcm).max() > 0
    errors = []
    for m in messages[:100]:
        errors += [o for o in session.handle(m, 0.01) if o.TYPE == "error"]
    assert all(e.code == "sequence_gap" for e in errors)  # only chunks the queue dropped
    assert session._user.rate == mic.rate and session._user.pending_s > 0.5
    out = session.tick(0.5)
    motion = [o for o in out if isinstance(o, Motion)]
    assert motion and np.isfinite(np.asarray(motion[0].values)).all()
    stats = source.stats()
    assert stats["chunks"] >= len(messages) and stats["messages"] == len(messages)


def test_missing_input_device_lists_the_devices(alsa_home: tuple[Any, Path]) -> None:
    with pytest.raises(SinkUnavailableError, match=r"(?s)no input audio device 'nope'.*avatar_mic"):
        MicrophoneSource(MicrophoneCapture(device="nope")).start()
