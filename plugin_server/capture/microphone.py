"""The microphone (`serve --mic`): PortAudio capture and its adapter to the session's user audio.

:class:`MicrophoneCapture` records an input device through sounddevice: the PortAudio callback
copies each block with its position on the capture clock (first sample index / rate) into a
bounded drop-oldest queue (:meth:`MicrophoneCapture.read`). Any device rate works: the session
resamples user audio as it does any client's.

:class:`MicrophoneSource` turns the queued chunks into `audio` messages of the ``user`` stream
(float32 little-endian at the device rate, ``seq`` = the chunk's index on the capture clock, so a
chunk dropped by a lagging reader is a `sequence_gap` the session logs and counts) for the
server's local session (`plugin_server.server.local`).

Errors name the fix: a missing sounddevice package or PortAudio library, or a device that does
not exist (with the list of the devices PortAudio sees).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from plugin_server.protocol import Audio, ClientMessage
from plugin_server.sinks.audio import check_device, close_stream, import_sounddevice, open_stream
from plugin_server.sinks.base import (
    Counters,
    DropOldestQueue,
    QueueClosedError,
    QueueEmptyError,
    SinkConfigError,
    SinkStats,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioChunk:
    """One block of captured audio.

    Attributes:
        pcm: ``(n, channels)`` float32 samples in -1..1.
        timestamp: seconds since capture start on the capture sample clock (first sample / rate).
        frame: index of the first sample since capture start.
        captured_at: ``time.monotonic()`` when the callback ran.
        overflow: PortAudio reported lost input before this block.
        index: the callback's number since capture start (0, 1, 2, ...; gaps = dropped chunks).
    """

    pcm: np.ndarray
    timestamp: float
    frame: int
    captured_at: float
    overflow: bool = False
    index: int = 0


def parse_device(spec: str | int | None) -> int | str | None:
    """A CLI device spec: ``None``/``""``: the default device; digits: an index; else a name substring."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, int):
        return spec
    return int(spec) if spec.strip().isdigit() else spec


class MicrophoneCapture:
    """Capture an input device into a bounded drop-oldest queue of :class:`AudioChunk`.

    Args:
        device: PortAudio input device (index or name substring); ``None``: the default.
        samplerate: capture rate (Hz); ``None``: the device's default rate.
        channels: input channels.
        blocksize: frames per chunk; ``None``: 20 ms at the capture rate.
        queue_size: chunks kept when the reader lags (oldest dropped, counted).
    """

    def __init__(
        self,
        *,
        device: int | str | None = None,
        samplerate: int | None = 16000,
        channels: int = 1,
        blocksize: int | None = 320,
        queue_size: int = 100,
    ) -> None:
        if (samplerate is not None and samplerate <= 0) or channels <= 0:
            raise SinkConfigError("mic: samplerate and channels must be positive")
        if blocksize is not None and blocksize <= 0:
            raise SinkConfigError("mic: blocksize must be positive")
        self.device = device
        self.samplerate: int | None = int(samplerate) if samplerate is not None else None
        self.channels = int(channels)
        self.blocksize: int | None = int(blocksize) if blocksize is not None else None
        self._queue: DropOldestQueue[AudioChunk] = DropOldestQueue(queue_size)
        self._counters = Counters("overflows")
        self._stream: Any = None
        self._frames = 0
        self._blocks = 0
        self._rate = self.samplerate or 16000  # the stream's rate once started
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._stream is not None

    @property
    def rate(self) -> int:
        """The capture rate (the device's default when ``samplerate`` was None, once started)."""
        return self._rate

    @property
    def stats(self) -> SinkStats:
        """sent: chunks queued; dropped: chunks lost to a lagging reader; extra overflows: PortAudio."""
        snap = self._counters.snapshot()
        return SinkStats(sent=snap.sent, dropped=self._queue.dropped, errors=snap.errors, extra=snap.extra)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        overflow = bool(status and status.input_overflow)
        if overflow:
            self._counters.add("overflows")
        chunk = AudioChunk(
            pcm=indata.copy(),
            timestamp=self._frames / self._rate,
            frame=self._frames,
            captured_at=time.monotonic(),
            overflow=overflow,
            index=self._blocks,
        )
        self._frames += frames
        self._blocks += 1
        self._queue.put(chunk)
        self._counters.add("sent")

    def start(self) -> None:
        with self._lock:
            if self._stream is not None:
                return
            sd = import_sounddevice()
            info = check_device(sd, self.device, "input")
            rate = self.samplerate or round(float(info.get("default_samplerate") or 16000))
            blocksize = self.blocksize or max(1, rate // 50)
            self._rate = rate
            self._frames = self._blocks = 0
            self._queue.drain()
            self._queue.reopen()
            stream = open_stream(
                sd, sd.InputStream, "mic", "input", self.device, rate, self.channels,
                blocksize=blocksize, callback=self._callback,
            )  # fmt: skip
            self._stream = stream
        log.info("mic: capturing from %r at %d Hz, %d-frame blocks", stream.device, rate, blocksize)

    def read(self, timeout: float | None = None) -> AudioChunk | None:
        """The oldest queued chunk; ``None`` on timeout or once stopped."""
        try:
            return self._queue.get(timeout)
        except (QueueEmptyError, QueueClosedError):
            return None

    def stop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None and not close_stream(stream, "mic", "input"):
            self._counters.add("errors")
        self._queue.close()

    def __enter__(self) -> MicrophoneCapture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MicrophoneSource:
    """A :class:`MicrophoneCapture` as a `CaptureSource`: chunks -> `audio` messages.

    Args:
        capture: the microphone (started and stopped with the source).
        stream: the session stream it feeds: ``user`` (``--mic``; the avatar listens to it).
        max_chunks: most chunks one `poll` takes (the rest wait for the next poll).
    """

    name = "mic"

    def __init__(
        self,
        capture: MicrophoneCapture,
        stream: Literal["user", "avatar"] = "user",
        max_chunks: int = 50,
    ) -> None:
        self.capture = capture
        self.stream = stream
        self.max_chunks = max_chunks
        self.messages = 0  # audio messages produced

    def start(self) -> None:
        self.capture.start()

    def stop(self) -> None:
        self.capture.stop()

    def poll(self) -> list[ClientMessage]:
        out: list[ClientMessage] = []
        while len(out) < self.max_chunks and (chunk := self.capture.read(timeout=0)) is not None:
            pcm = np.nan_to_num(np.asarray(chunk.pcm, "<f4"), nan=0.0, posinf=1.0, neginf=-1.0)
            if not len(pcm):
                continue
            channels = pcm.shape[1] if pcm.ndim == 2 else 1
            out.append(
                Audio(
                    stream=self.stream,
                    seq=chunk.index,
                    format="f32le",
                    rate=self.capture.rate,
                    channels=channels,
                    data=np.ascontiguousarray(pcm).tobytes(),
                )
            )
        self.messages += len(out)
        return out

    def stats(self) -> dict[str, Any]:
        s = self.capture.stats
        return {
            "device": self.capture.device,
            "rate": self.capture.rate,
            "chunks": s.sent,
            "dropped": s.dropped,
            "overflows": s.extra.get("overflows", 0),
            "messages": self.messages,
        }
