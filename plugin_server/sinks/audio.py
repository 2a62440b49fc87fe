"""Local audio through sounddevice (PortAudio): avatar playback with an A/V offset.

:class:`AudioPlaybackSink` (sink name ``audio``) plays the avatar's speech on a local output
device *delayed* so that it lines up with the video: the motion frames reach the viewer through
the generator, a renderer/VTuber app and a camera pipeline, so the sound must wait as long. The
delay is the A/V offset in milliseconds, adjustable while playing (:meth:`set_av_offset_ms`).

Audio is placed on a timeline counted in output samples (the device's clock, so nothing drifts
against the device): the first chunk's avatar-clock timestamp is anchored to the current output
position, every later chunk is placed at ``anchor + (timestamp - t0) * rate + offset``; chunks
without a timestamp follow the previous one. A chunk that arrives too late to play whole, or so
early that more than ``max_buffer_s`` would be queued, re-anchors the timeline (counted in
``stats.extra["resyncs"]``) instead of being cut or piling up. Changing the offset shifts all
queued audio at once (a larger offset inserts silence, a smaller one skips ahead).

The microphone (``--mic``) is a capture source: `plugin_server.capture.microphone` (it uses the
device helpers here; ``MicrophoneCapture`` and ``AudioChunk`` are still importable from this module).

The sink raises :class:`SinkUnavailableError` naming the fix when PortAudio is missing (Debian/Ubuntu:
``libportaudio2``) and listing the available devices when the requested one does not exist. On a
machine without a sound card an ALSA ``null`` PCM (``~/.asoundrc``: ``pcm.!default { type null }``)
or a PulseAudio null sink gives PortAudio a device.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import numpy as np

from .base import (
    PIP_HINT,
    Counters,
    MotionFrame,
    Sink,
    SinkConfigError,
    SinkStats,
    SinkUnavailableError,
    register_sink,
)

log = logging.getLogger(__name__)

PORTAUDIO_HINT = (
    "install the PortAudio library: Debian/Ubuntu: sudo apt install libportaudio2; Fedora: sudo dnf install "
    "portaudio; Arch: sudo pacman -S portaudio; macOS: brew install portaudio (the sounddevice wheels for "
    "Windows and macOS bundle it)"
)


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing package or PortAudio library into an actionable error."""
    try:
        import sounddevice
    except ImportError as exc:
        raise SinkUnavailableError(f"local audio needs the sounddevice package: {PIP_HINT} ({exc})") from exc
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise SinkUnavailableError(f"sounddevice cannot load PortAudio ({exc}): {PORTAUDIO_HINT}") from exc
    return sounddevice


def describe_devices(sd: Any) -> str:
    """PortAudio's device list, one ``index: name (in N, out M) [host API]`` per line."""
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as exc:
        return f"(the device list is unavailable: {exc})"
    lines = []
    for i, dev in enumerate(devices):
        api = hostapis[dev["hostapi"]]["name"] if dev.get("hostapi", -1) < len(hostapis) else "?"
        lines.append(
            f"  {i}: {dev['name']} (in {dev['max_input_channels']}, out {dev['max_output_channels']}) [{api}]"
        )
    if not lines:
        return (
            "  (none: PortAudio found no audio device; on a headless Linux machine define an ALSA null "
            "device in ~/.asoundrc, e.g. 'pcm.!default { type null }', or start PulseAudio with a null sink)"
        )
    return "\n".join(lines)


def close_stream(stream: Any, label: str, direction: str) -> bool:
    """Stop and close a PortAudio stream; False (logged) when that failed."""
    try:
        stream.stop()
        stream.close()
    except Exception as exc:  # closing must never raise into the caller
        log.warning("%s: error closing the %s stream: %s", label, direction, exc)
        return False
    return True


def open_stream(
    sd: Any,
    factory: Any,
    label: str,
    direction: str,
    device: Any,
    samplerate: int,
    channels: int,
    **kwargs: Any,
) -> Any:
    """Open and start a float32 PortAudio stream; failures name the device and list the others."""
    try:
        stream = factory(samplerate=samplerate, device=device, channels=channels, dtype="float32", **kwargs)
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise SinkUnavailableError(
            f"{label}: cannot open {direction} device {device!r} at {samplerate} Hz, "
            f"{channels} ch: {exc}. Available devices:\n{describe_devices(sd)}"
        ) from exc
    return stream


def check_device(sd: Any, device: int | str | None, kind: str) -> dict[str, Any]:
    """The PortAudio info of ``device`` for ``kind`` (``input``/``output``), or an error with the list."""
    try:
        return dict(sd.query_devices(device, kind))
    except (ValueError, sd.PortAudioError) as exc:
        which = f"no default {kind} audio device" if device is None else f"no {kind} audio device {device!r}"
        raise SinkUnavailableError(f"{which} ({exc}). Available devices:\n{describe_devices(sd)}") from exc


class AudioTimeline:
    """Thread-safe schedule of PCM chunks on an output-sample timeline (see the module doc).

    ``write`` (any thread) places chunks; ``read`` (the audio callback) mixes ``n`` samples from
    the current position and advances it. Pure numpy; testable without a device.
    """

    def __init__(
        self,
        samplerate: int,
        channels: int = 1,
        delay_samples: int = 0,
        max_buffer_samples: int | None = None,
    ) -> None:
        self.samplerate = int(samplerate)
        self.channels = int(channels)
        self._delay = int(delay_samples)
        self._max_buffer = max_buffer_samples if max_buffer_samples is not None else 10 * self.samplerate
        self._lock = threading.Lock()
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (start sample, (n, channels) float32)
        self._anchor: tuple[float, int] | None = None  # (avatar time t0, timeline sample of t0 w/o delay)
        self._next_time: float | None = None
        self.position = 0  # next sample the device will play
        self.resyncs = 0
        self.rejected = 0

    @property
    def delay_samples(self) -> int:
        return self._delay

    def set_delay(self, delay_samples: int) -> None:
        """Change the delay; queued audio moves with it."""
        with self._lock:
            shift = int(delay_samples) - self._delay
            self._delay = int(delay_samples)
            self._chunks = deque((start + shift, pcm) for start, pcm in self._chunks)

    def buffered_samples(self) -> int:
        """Samples from the play position to the end of the last queued chunk."""
        with self._lock:
            if not self._chunks:
                return 0
            return max(0, max(s + len(p) for s, p in self._chunks) - self.position)

    def _as_block(self, pcm: np.ndarray) -> np.ndarray:
        arr = np.asarray(pcm)
        if arr.dtype.kind in "iu":  # integer PCM -> float in -1..1
            arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"PCM must be (n,) or (n, channels), got shape {arr.shape}")
        if arr.shape[1] != self.channels:
            if arr.shape[1] == 1:
                arr = np.repeat(arr, self.channels, axis=1)
            elif self.channels == 1:
                arr = arr.mean(axis=1, keepdims=True)
            else:
                raise ValueError(f"PCM has {arr.shape[1]} channels, the stream has {self.channels}")
        return np.ascontiguousarray(arr)

    def write(self, pcm: np.ndarray, timestamp: float | None = None) -> bool:
        """Schedule ``pcm`` at avatar-clock ``timestamp`` (``None``: right after the previous chunk).

        Returns ``False`` when the chunk was rejected (empty).
        """
        block = self._as_block(pcm)
        n = len(block)
        if n == 0:
            return False
        with self._lock:
            if timestamp is None:
                timestamp = self._next_time
            if self._anchor is None or timestamp is None:
                self._anchor = (timestamp if timestamp is not None else 0.0, self.position)
                timestamp = self._anchor[0]
            t0, base = self._anchor
            start = base + round((timestamp - t0) * self.samplerate) + self._delay
            too_late = start < self.position
            too_early = start + n - self.position > self._max_buffer + self._delay
            if too_late or too_early:
                self.resyncs += 1
                self._anchor = (timestamp, self.position)
                start = self.position + self._delay
                log.debug("audio timeline re-anchored (%s)", "late chunk" if too_late else "buffer full")
            self._next_time = timestamp + n / self.samplerate
            # keep chunks sorted by start (writes are nearly always in order)
            if self._chunks and self._chunks[-1][0] > start:
                items = sorted([*self._chunks, (start, block)], key=lambda c: c[0])
                self._chunks = deque(items)
            else:
                self._chunks.append((start, block))
        return True

    def read(self, n: int) -> np.ndarray:
        """Mix the next ``n`` samples (silence where nothing is scheduled) and advance."""
        out = np.zeros((n, self.channels), np.float32)
        with self._lock:
            pos, end = self.position, self.position + n
            for start, pcm in self._chunks:
                if start >= end:
                    break
                lo, hi = max(start, pos), min(start + len(pcm), end)
                if hi > lo:
                    out[lo - pos : hi - pos] += pcm[lo - start : hi - start]
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= end:
                self._chunks.popleft()
            self.position = end
        return out

    def clear(self) -> None:
        """Forget queued audio and the anchor (barge-in: the avatar stops talking now)."""
        with self._lock:
            self._chunks.clear()
            self._anchor = None
            self._next_time = None


@register_sink("audio")
class AudioPlaybackSink(Sink):
    """Play the avatar's audio on a local output device, delayed by the A/V offset.

    Feed it with :meth:`submit_audio`; motion frames (:meth:`submit`) are ignored (``consumes`` is
    ``{"audio"}``).

    Args:
        device: PortAudio output device (index or name substring); ``None``: the default.
        samplerate: rate of the PCM given to :meth:`submit_audio` and of the stream (Hz).
        channels: output channels (mono input is duplicated).
        av_offset_ms: initial A/V offset: how long the audio waits behind its timestamp (ms, >= 0).
        blocksize: frames per callback (0: PortAudio's choice).
        latency: PortAudio latency hint: ``low``, ``high`` or seconds.
        max_buffer_s: most audio queued ahead of the play position before re-anchoring.
    """

    consumes = frozenset({"audio"})

    def __init__(
        self,
        *,
        device: int | str | None = None,
        samplerate: int = 16000,
        channels: int = 1,
        av_offset_ms: float = 0.0,
        blocksize: int = 0,
        latency: str = "low",
        max_buffer_s: float = 10.0,
    ) -> None:
        if samplerate <= 0 or channels <= 0:
            raise SinkConfigError("audio: samplerate and channels must be positive")
        if av_offset_ms < 0:
            raise SinkConfigError(f"audio: av_offset_ms must be >= 0, got {av_offset_ms}")
        self.device = device
        self.samplerate = int(samplerate)
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self.latency: str | float = latency
        try:
            self.latency = float(latency)
        except ValueError:
            pass
        self._offset_ms = float(av_offset_ms)
        self.timeline = AudioTimeline(
            self.samplerate,
            self.channels,
            self._ms_to_samples(self._offset_ms),
            max_buffer_samples=int(max_buffer_s * self.samplerate),
        )
        self._counters = Counters("status_flags", "played_blocks")
        self._stream: Any = None
        self._lock = threading.Lock()

    def _ms_to_samples(self, ms: float) -> int:
        return round(ms * self.samplerate / 1000.0)

    # -- properties
    @property
    def running(self) -> bool:
        return self._stream is not None

    @property
    def av_offset_ms(self) -> float:
        return self._offset_ms

    def set_av_offset_ms(self, ms: float) -> None:
        """Change the A/V offset now; queued audio shifts with it."""
        if ms < 0:
            raise ValueError(f"av_offset_ms must be >= 0, got {ms}")
        self._offset_ms = float(ms)
        self.timeline.set_delay(self._ms_to_samples(ms))
        log.info("audio: A/V offset %.0f ms", ms)

    @property
    def position(self) -> int:
        """Samples handed to the device so far."""
        return self.timeline.position

    @property
    def output_latency(self) -> float:
        """PortAudio's reported output latency (s), to add to the A/V budget; 0 when stopped."""
        stream = self._stream
        return float(stream.latency) if stream is not None else 0.0

    @property
    def stats(self) -> SinkStats:
        snap = self._counters.snapshot()
        extra = {**snap.extra, "resyncs": self.timeline.resyncs, "played_samples": self.timeline.position}
        return SinkStats(sent=snap.sent, dropped=snap.dropped, errors=snap.errors, extra=extra)

    # -- input
    def submit(self, frame: MotionFrame) -> None:
        """Ignored: this sink consumes audio (:meth:`submit_audio`)."""

    def submit_audio(self, pcm: np.ndarray, timestamp: float | None = None) -> None:
        """Schedule avatar PCM (float -1..1 or int16, ``(n,)`` or ``(n, ch)``) at ``timestamp`` (s).

        Non-blocking; may be called before :meth:`start` (the audio then starts with the stream).
        """
        try:
            accepted = self.timeline.write(pcm, timestamp)
        except ValueError:
            self._counters.add("errors")
            raise
        self._counters.add("sent" if accepted else "dropped")

    def clear(self) -> None:
        """Drop queued audio (barge-in)."""
        self.timeline.clear()

    # -- lifecycle
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self._counters.add("status_flags")
        outdata[:] = self.timeline.read(frames)
        self._counters.add("played_blocks")

    def start(self) -> None:
        with self._lock:
            if self._stream is not None:
                return
            sd = import_sounddevice()
            check_device(sd, self.device, "output")
            stream = open_stream(
                sd, sd.OutputStream, "audio", "output", self.device, self.samplerate, self.channels,
                blocksize=self.blocksize, latency=self.latency, callback=self._callback,
            )  # fmt: skip
            self._stream = stream
        log.info(
            "audio: playing on %r at %d Hz, A/V offset %.0f ms, output latency %.0f ms",
            stream.device,
            self.samplerate,
            self._offset_ms,
            1000 * float(stream.latency),
        )

    def stop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None and not close_stream(stream, "audio", "output"):
            self._counters.add("errors")


_MOVED = {"AudioChunk", "MicrophoneCapture"}


def __getattr__(name: str) -> Any:
    """Compatibility: the microphone moved to `plugin_server.capture.microphone`."""
    if name in _MOVED:
        from plugin_server.capture import microphone

        return getattr(microphone, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
