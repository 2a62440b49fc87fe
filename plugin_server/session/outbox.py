"""The bounded queue between a session and a slow client.

`Session.handle` / `Session.tick` return the messages they produce; the adapter puts them here and
sends from here as fast as the client takes them. Media (motion, avatar audio, rendered frames) is
bounded in frames: past `max_frames` the oldest media message is dropped (a block's motion and
audio sit next to each other, so they go together), counted in `dropped`. Everything else (acks,
events, errors, stats) is bounded in messages: past `max_messages` the oldest stats message goes
first, then the oldest other message, counted in `dropped_messages`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from plugin_server.protocol import AvatarAudio, Message, Motion, RenderedFrame, Stats


def media_kind(msg: Message) -> tuple[str, int] | None:
    """("motion" | "audio" | "frames", frames held) for media messages, else None."""
    if isinstance(msg, Motion):
        return "motion", len(msg.timestamps)
    if isinstance(msg, AvatarAudio):
        return "audio", msg.frames
    if isinstance(msg, RenderedFrame):
        return "frames", 1
    return None


class Outbox:
    def __init__(self, max_frames: int = 50, max_messages: int = 256) -> None:
        if max_frames < 1 or max_messages < 1:
            raise ValueError("Outbox bounds must be >= 1")
        self.max_frames = max_frames
        self.max_messages = max_messages
        self._q: deque[Message] = deque()
        self._frames = {"motion": 0, "audio": 0, "frames": 0}
        self._other = 0
        self.dropped = {"motion": 0, "audio": 0, "frames": 0}
        self.dropped_messages = 0

    def __len__(self) -> int:
        return len(self._q)

    @property
    def pending_frames(self) -> int:
        """Frames waiting, by the fullest media kind."""
        return max(self._frames.values())

    @property
    def dropped_frames(self) -> int:
        """Frames lost to a slow client (the largest count over the media kinds)."""
        return max(self.dropped.values())

    def put(self, messages: Iterable[Message]) -> None:
        for msg in messages:
            self._q.append(msg)
            kind = media_kind(msg)
            if kind is None:
                self._other += 1
            else:
                self._frames[kind[0]] += kind[1]
        self._enforce()

    def pop(self) -> Message | None:
        """The next message to send, or None."""
        if not self._q:
            return None
        msg = self._q.popleft()
        self._account(msg, -1)
        return msg

    def drain(self) -> list[Message]:
        out = list(self._q)
        self.clear()
        return out

    def clear(self) -> None:
        self._q.clear()
        self._frames = dict.fromkeys(self._frames, 0)
        self._other = 0

    def _account(self, msg: Message, sign: int) -> None:
        kind = media_kind(msg)
        if kind is None:
            self._other += sign
        else:
            self._frames[kind[0]] += sign * kind[1]

    def _drop_first(self, want_media: bool, prefer: type | None = None) -> None:
        for i, msg in enumerate(self._q):
            is_media = media_kind(msg) is not None
            if is_media == want_media and (prefer is None or isinstance(msg, prefer)):
                del self._q[i]
                self._account(msg, -1)
                kind = media_kind(msg)
                if kind is None:
                    self.dropped_messages += 1
                else:
                    self.dropped[kind[0]] += kind[1]
                return
        if prefer is not None:
            self._drop_first(want_media)

    def _enforce(self) -> None:
        while self.pending_frames > self.max_frames:
            self._drop_first(want_media=True)
        while self._other > self.max_messages:
            self._drop_first(want_media=False, prefer=Stats)
