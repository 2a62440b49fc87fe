"""`SinkRouter`: the server-level sinks (`--sink vmc`, `--sink audio`, ...) follow one session.

A VMC receiver or VTube Studio shows one face and a sound card plays one voice, while the server
may hold several sessions. The rule (also in `plugin_server/server/README.md`):

- **The sinks follow the oldest attached session** (by creation time). When it ends or its client
  drops, the next oldest attached session takes over; when a session resumes it counts by its
  original creation time again, so a dropped-and-resumed first session gets the sinks back.
  `AvatarServer` computes the owner and calls `set_owner`; `offer` ignores every other session.
- Motion goes to every sink that consumes motion (or images, through a renderer) as
  `MotionFrame`s in ARKit space, whatever naming the client chose. Sessions generate a block of
  frames at once (4 frames = 160 ms by default); the router **paces** them: a thread releases each
  frame at its timestamp on a wall-clock anchor (set by the first frame, plus `delay_s` of slack
  for compute jitter), so a VMC receiver sees a steady 25 fps rather than bursts. A frame more
  than `late_s` behind or `ahead_s` ahead of its slot (a skip-ahead, a pause, a new owner)
  re-anchors the schedule (`resyncs`).
- Avatar audio (the `avatar_audio` output, so the session must have `audio` in its outputs, the
  default) goes to sinks that consume audio (`submit_audio`), resampled to the sink's rate;
  `interrupted` turn events clear their queued audio (barge-in).

`offer` never blocks on a sink (sinks queue and drop the oldest themselves); it is thread-safe and
is called from the generation thread right after a session's tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import soxr

from plugin_server.protocol import AvatarAudio, ServerMessage, TurnEvent, decode_pcm
from plugin_server.sinks import MotionFrame, Sink

log = logging.getLogger(__name__)


def _consumes(sink: Sink) -> frozenset[str]:
    return frozenset(getattr(sink, "consumes", frozenset({"motion"})))


class _AudioFeed:
    """One audio sink's resampler and position on the owner's avatar-audio clock."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.rate = int(getattr(sink, "samplerate", 0)) or None
        self._resampler: soxr.ResampleStream | None = None
        self._key: tuple[int, int] | None = None
        self.next_t: float | None = None

    def reset(self) -> None:
        self._resampler, self._key, self.next_t = None, None, None

    def push(self, msg: AvatarAudio, fps: int) -> None:
        pcm = decode_pcm(msg.data, msg.format, msg.channels)
        if self.rate is not None and self.rate != msg.rate:
            key = (msg.rate, msg.channels)
            if self._resampler is None or self._key != key:
                self._resampler = soxr.ResampleStream(msg.rate, self.rate, msg.channels, dtype="float32")
                self._key = key
            pcm = self._resampler.resample_chunk(pcm)
        # Anchor on the first chunk and after any jump (skip-ahead, pause, interrupt); otherwise
        # let the sink append, so resampler lengths never open gaps or overlaps.
        jump = self.next_t is None or abs(msg.t - self.next_t) > 0.5 / fps
        self.next_t = msg.t + msg.frames / fps
        if len(pcm):
            self.sink.submit_audio(pcm, msg.t if jump else None)


class SinkRouter:
    """Routes one session's motion and avatar audio to the server's sinks (see the module doc).

    Args:
        sinks: created (not yet started) sinks.
        pace: release motion frames one by one at their timestamps (else as generated).
        delay_s: slack added to the pacing anchor, absorbing block-to-block compute jitter.
        late_s / ahead_s: a frame further off its slot than this re-anchors the schedule.
        max_pending: frames waiting for release before the oldest is dropped.
        clock: a monotonic clock (tests may pass a fake one).
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        pace: bool = True,
        delay_s: float = 0.04,
        late_s: float = 0.08,
        ahead_s: float = 1.0,
        max_pending: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sinks = list(sinks)
        self.pace = pace
        self.delay_s = delay_s
        self.late_s = late_s
        self.ahead_s = ahead_s
        self._clock = clock
        self._motion = [s for s in self.sinks if _consumes(s) & {"motion", "image"}]
        self._audio = [
            _AudioFeed(s) for s in self.sinks if "audio" in _consumes(s) and hasattr(s, "submit_audio")
        ]
        self._cond = threading.Condition()
        self._audio_lock = threading.Lock()
        self._pending: deque[tuple[float, MotionFrame]] = deque(maxlen=max_pending)
        self._anchor: float | None = None
        self._owner: str | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self.frames_in = 0
        self.frames_out = 0
        self.frames_dropped = 0
        self.resyncs = 0

    def __bool__(self) -> bool:
        return bool(self.sinks)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start every sink (stopping the started ones and re-raising if one cannot run) and the
        pacing thread."""
        started: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.start()
                started.append(sink)
        except Exception:
            for sink in reversed(started):
                sink.stop()
            raise
        if self.pace and self._motion:
            with self._cond:
                self._running = True
            self._thread = threading.Thread(target=self._pacer, name="sink-pacer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        for sink in self.sinks:
            try:
                sink.stop()
            except Exception:
                log.exception("sink %s: error while stopping", getattr(sink, "name", sink))

    # --- ownership ----------------------------------------------------------------------------
    @property
    def owner(self) -> str | None:
        """The session the sinks follow (None: none attached)."""
        with self._cond:
            return self._owner

    def set_owner(self, session_id: str | None) -> None:
        with self._cond:
            if session_id == self._owner:
                return
            log.info("sinks now follow session %s (was %s)", session_id, self._owner)
            self._owner = session_id
            self._anchor = None
            if session_id is not None:  # a new face: drop the old one's frames (else let them play out)
                self.frames_dropped += len(self._pending)
                self._pending.clear()
        with self._audio_lock:
            for feed in self._audio:
                feed.reset()
                clear = getattr(feed.sink, "clear", None)
                if callable(clear):
                    clear()

    # --- input --------------------------------------------------------------------------------
    def offer(
        self,
        session_id: str,
        fps: int,
        blocks: Sequence[tuple[int, np.ndarray]] = (),
        messages: Sequence[ServerMessage] = (),
    ) -> None:
        """A session's new ARKit blocks (first frame, (n, 58)) and output messages; ignored unless
        `session_id` owns the sinks. Never blocks on a sink."""
        if not self.sinks:
            return
        with self._cond:
            if session_id != self._owner:
                return
        frames = [
            MotionFrame(k0 + i, (k0 + i) / fps, row) for k0, arkit in blocks for i, row in enumerate(arkit)
        ]
        if frames and self._motion:
            self.frames_in += len(frames)
            if self.pace:
                self._schedule(frames)
            else:
                for frame in frames:
                    self._submit(frame)
        if not self._audio:
            return
        with self._audio_lock:  # the generation thread and the event loop both call offer
            for msg in messages:
                if isinstance(msg, AvatarAudio):
                    for feed in self._audio:
                        try:
                            feed.push(msg, fps)
                        except Exception:
                            log.exception("sink %s: audio submit failed", getattr(feed.sink, "name", "?"))
                elif isinstance(msg, TurnEvent) and msg.event == "interrupted":
                    for feed in self._audio:
                        feed.reset()
                        clear = getattr(feed.sink, "clear", None)
                        if callable(clear):
                            clear()

    def stats(self) -> dict[str, Any]:
        """Router counters and each sink's stats (for /health)."""
        with self._cond:
            out: dict[str, Any] = {
                "owner": self._owner is not None,
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "frames_dropped": self.frames_dropped,
                "resyncs": self.resyncs,
                "pending": len(self._pending),
            }
        out["sinks"] = {
            f"{i}:{getattr(s, 'name', type(s).__name__)}": s.stats.as_dict() for i, s in enumerate(self.sinks)
        }
        return out

    # --- pacing -------------------------------------------------------------------------------
    def _schedule(self, frames: list[MotionFrame]) -> None:
        with self._cond:
            now = self._clock()
            for frame in frames:
                slot = None if self._anchor is None else self._anchor + frame.timestamp
                if slot is None or slot < now - self.late_s or slot > now + self.ahead_s:
                    if slot is not None:
                        self.resyncs += 1
                    self._anchor = now + self.delay_s - frame.timestamp
                    slot = self._anchor + frame.timestamp
                if len(self._pending) == self._pending.maxlen:
                    self.frames_dropped += 1
                self._pending.append((slot, frame))
            self._cond.notify_all()

    def _pacer(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._pending:
                    self._cond.wait()
                if not self._running:
                    return
                slot, frame = self._pending[0]
                wait = slot - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                self._pending.popleft()
            self._submit(frame)

    def _submit(self, frame: MotionFrame) -> None:
        self.frames_out += 1
        for sink in self._motion:
            try:
                sink.submit(frame)
            except Exception:
                log.exception("sink %s: submit failed", getattr(sink, "name", "?"))
