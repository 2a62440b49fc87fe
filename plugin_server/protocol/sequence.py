"""Per-stream sequence numbers: each input stream counts its chunks 0, 1, 2, ... (any start)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ErrorCode, ProtocolError


@dataclass
class SequenceTracker:
    """Checks one stream's `seq` values.

    `check(seq)` returns normally for the expected next number; it raises
    - `sequence_repeat` when seq is not above the last accepted one (duplicate or out of order):
      the caller drops the chunk;
    - `sequence_gap` when seq skipped ahead: `gap` holds how many were skipped, the caller keeps the
      chunk (the tracker has already moved on to it) and reports the error.
    The first seq of a stream (or after `reset`) may be any number >= 0.
    """

    name: str
    last: int | None = None
    gaps: int = 0
    repeats: int = 0

    def check(self, seq: int, msg_id: int | None = None) -> None:
        if self.last is not None and seq <= self.last:
            self.repeats += 1
            raise ProtocolError(
                ErrorCode.SEQUENCE_REPEAT,
                f"{self.name}: seq {seq} is not after {self.last} (duplicate or out of order); dropped",
                msg_id,
            )
        expected = None if self.last is None else self.last + 1
        self.last = seq
        if expected is not None and seq != expected:
            self.gaps += 1
            raise ProtocolError(
                ErrorCode.SEQUENCE_GAP,
                f"{self.name}: expected seq {expected}, got {seq} ({seq - expected} missing); accepted",
                msg_id,
            )

    def reset(self) -> None:
        self.last = None
