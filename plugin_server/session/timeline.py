"""One input audio stream placed on the session clock, frame by frame.

Clients send audio when they have it (a TTS engine faster than real time, a microphone in real
time). The session *places* it on its clock one video frame at a time: frame `i` covers samples
`[i * rate // fps, (i + 1) * rate // fps)` of the stream's own rate. Placing takes the next
samples waiting in the queue; when the queue runs dry the rest of the frame is silence. So the
clock never waits for late audio, audio that arrives late plays late (never dropped, never
overlapped), and the placed audio is exactly what the avatar "hears" and what is re-emitted.

Each placed frame is also resampled to 16 kHz mono for the audio front end (one libsoxr stream per
timeline). Frames are placed a little ahead of the block being generated (the front end's
look-ahead); `take_block` hands back the native-rate samples of a generated block
(`take_block_with_16k` also their 16 kHz audio, for the silero speech detector).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from models.audio.resample import StreamingResampler
from plugin_server.protocol import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

DEFAULT_FORMAT: tuple[str, int, int] = ("s16le", 16000, 1)  # until the first chunk says otherwise
RATE_16K = 16000


@dataclass
class _Placed:
    frame: int
    samples: np.ndarray | None  # (k, C) float32 at the stream rate; None = silence
    x16: np.ndarray  # what was fed to the front end for it (16 kHz mono)


class AudioTimeline:
    """Args:
    name: for messages and logs ("avatar" or "user").
    logger: where to log (the session's logger, which adds the session id).
    fps: the session's frame rate.
    max_pending_s: bound of the queue of audio not yet placed.
    overflow: "refuse" (a chunk that does not fit is refused with `buffer_full`: for TTS, which
        sends ahead) or "drop_oldest" (the oldest queued audio goes: for live microphones).
    """

    def __init__(
        self,
        name: str,
        fps: int,
        max_pending_s: float,
        overflow: str = "refuse",
        logger: logging.Logger | logging.LoggerAdapter | None = None,  # type: ignore[type-arg]
    ) -> None:
        if overflow not in ("refuse", "drop_oldest"):
            raise ValueError(f"unknown overflow policy {overflow!r}")
        self.log = logger or log
        self.name = name
        self.fps = fps
        self.max_pending_s = max_pending_s
        self.overflow = overflow
        self.dropped_s = 0.0
        self.reset()

    # --- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the queue, the placed frames and the stream format (not the drop counter)."""
        self.format: tuple[str, int, int] | None = None
        self._pending: deque[np.ndarray] = deque()  # (k, C) float32 chunks
        self._pending_n = 0
        self._placed: deque[_Placed] = deque()
        self._resampler: StreamingResampler | None = None
        self.muted = False
        self.next_place: int | None = None  # first frame not yet placed

    @property
    def sample_format(self) -> str:
        return (self.format or DEFAULT_FORMAT)[0]

    @property
    def rate(self) -> int:
        return (self.format or DEFAULT_FORMAT)[1]

    @property
    def channels(self) -> int:
        return (self.format or DEFAULT_FORMAT)[2]

    @property
    def pending_s(self) -> float:
        """Seconds queued and not yet placed on the clock."""
        return self._pending_n / self.rate

    def frame_samples(self, i: int) -> int:
        """Samples of frame i at the stream rate (frame-aligned integer positions)."""
        return (i + 1) * self.rate // self.fps - i * self.rate // self.fps

    # --- input --------------------------------------------------------------------------------
    def push(
        self, samples: np.ndarray, sample_format: str, rate: int, channels: int, msg_id: int | None = None
    ) -> None:
        """Queue a chunk `(k, channels)` float32. The first chunk fixes the stream's format until
        `reset`; another format is refused (`format_changed`)."""
        fmt = (sample_format, rate, channels)
        if self.format is None:
            self.format = fmt
            self._resampler = StreamingResampler(rate, None, "HQ")
            self.log.info("%s audio: %s %d Hz x%d", self.name, sample_format, rate, channels)
        elif fmt != self.format:
            raise ProtocolError(
                ErrorCode.FORMAT_CHANGED,
                f"{self.name} audio is {self.format[0]} {self.format[1]} Hz x{self.format[2]}; a chunk in "
                f"{sample_format} {rate} Hz x{channels} needs a `reset` control first",
                msg_id,
            )
        n = len(samples)
        if self.muted:
            self.dropped_s += n / rate
            return
        limit = int(self.max_pending_s * rate)
        if self._pending_n + n > limit and self.overflow == "refuse":
            self.dropped_s += n / rate
            raise ProtocolError(
                ErrorCode.BUFFER_FULL,
                f"{self.name} audio queue holds {self.pending_s:.2f} s (limit {self.max_pending_s:g} s); "
                "chunk dropped",
                msg_id,
            )
        if n:
            self._pending.append(np.asarray(samples, np.float32))
            self._pending_n += n
        self._trim(limit)

    def _trim(self, limit: int) -> None:
        while self._pending_n > limit and self._pending:
            over = self._pending_n - limit
            head = self._pending[0]
            cut = min(over, len(head))
            self._pending_n -= cut
            self.dropped_s += cut / self.rate
            if cut == len(head):
                self._pending.popleft()
            else:
                self._pending[0] = head[cut:]

    def _take(self, k: int) -> np.ndarray | None:
        """Up to k queued samples (zero-padded to k), or None when the queue is empty."""
        if not self._pending:
            return None
        got: list[np.ndarray] = []
        need = k
        while need and self._pending:
            head = self._pending[0]
            if len(head) <= need:
                got.append(self._pending.popleft())
                need -= len(head)
            else:
                got.append(head[:need])
                self._pending[0] = head[need:]
                need = 0
        self._pending_n -= k - need
        if need:
            got.append(np.zeros((need, self.channels), np.float32))
        return np.concatenate(got)

    # --- the clock ----------------------------------------------------------------------------
    def place_until(self, end_frame: int, start_frame: int = 0) -> np.ndarray:
        """Place frames up to `end_frame` (exclusive), starting at `start_frame` on a fresh timeline;
        returns their 16 kHz mono audio for the front end (possibly shorter than 640 samples per
        frame while libsoxr fills its pipeline)."""
        if self.next_place is None:
            self.next_place = start_frame
        out: list[np.ndarray] = []
        while self.next_place < end_frame:
            i = self.next_place
            samples = self._take(self.frame_samples(i))
            if self._resampler is None:  # no format yet: only silence so far, fed at 16 kHz
                x16 = np.zeros(RATE_16K // self.fps, np.float32)
            else:
                src = samples if samples is not None else np.zeros((self.frame_samples(i), self.channels))
                x16 = self._resampler.push(np.asarray(src, np.float32))
            self._placed.append(_Placed(i, samples, x16))
            out.append(x16)
            self.next_place = i + 1
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def take_block(self, frame0: int, n: int) -> np.ndarray:
        """The placed samples of frames frame0 .. frame0 + n - 1 at the stream's rate, `(k, C)`;
        placed frames before frame0 are discarded, frames never placed are silence."""
        return self.take_block_with_16k(frame0, n)[0]

    def take_block_with_16k(self, frame0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`take_block`, plus the 16 kHz mono audio fed to the front end for those frames `(m,)`
        (silence for frames never placed)."""
        while self._placed and self._placed[0].frame < frame0:
            self._placed.popleft()
        parts: list[np.ndarray] = []
        parts16: list[np.ndarray] = []
        for i in range(frame0, frame0 + n):
            if self._placed and self._placed[0].frame == i:
                p = self._placed.popleft()
                parts16.append(p.x16)
                if p.samples is not None:
                    parts.append(p.samples)
                    continue
            else:
                n16 = (i + 1) * RATE_16K // self.fps - i * RATE_16K // self.fps
                parts16.append(np.zeros(n16, np.float32))
            parts.append(np.zeros((self.frame_samples(i), self.channels), np.float32))
        block = np.concatenate(parts) if parts else np.zeros((0, self.channels), np.float32)
        return block, np.concatenate(parts16) if parts16 else np.zeros(0, np.float32)

    def replay_16k(self) -> np.ndarray:
        """The 16 kHz audio already fed for frames placed but not yet taken (to prime a new front
        end after the generator is rebuilt)."""
        parts = [p.x16 for p in self._placed]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def interrupt(self) -> float:
        """Barge-in: drop everything queued, silence every placed frame not yet taken, and mute the
        stream (chunks are dropped, counted) until `unmute`. Returns the seconds dropped."""
        dropped = self._pending_n / self.rate
        self._pending.clear()
        self._pending_n = 0
        for p in self._placed:
            if p.samples is not None:
                dropped += len(p.samples) / self.rate
                p.samples = None
                p.x16 = np.zeros_like(p.x16)
        self.dropped_s += dropped
        self.muted = True
        return dropped

    def unmute(self) -> None:
        self.muted = False

    def skip_to(self, frame: int) -> None:
        """The clock jumped ahead to `frame` (the session fell behind): placed audio not yet
        emitted goes back to the front of the queue, so no audio is lost, only delayed."""
        back = [p.samples for p in self._placed if p.samples is not None]
        for s in reversed(back):
            self._pending.appendleft(s)
            self._pending_n += len(s)
        self._placed.clear()
        self.next_place = frame
        if self.overflow == "drop_oldest":
            self._trim(int(self.max_pending_s * self.rate))
