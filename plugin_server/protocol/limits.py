"""Wire-level size limits, enforced by `decode` (and reported to clients in `welcome.limits`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """What one frame may hold. Everything over a limit is refused with `too_large` or
    `chunk_too_long` before it reaches a session."""

    max_message_bytes: int = 2 * 1024 * 1024  # one websocket frame (JSON text: UTF-8 bytes)
    max_audio_chunk_s: float = 2.0  # one audio message
    max_motion_frames: int = 250  # frames in one user_motion message (10 s at 25 fps)
    max_list_items: int = 100_000  # any list (or map) anywhere in a message
    max_string_chars: int = 4096  # any string (base64 payloads excepted: they count as bytes)
    max_depth: int = 8  # nesting of maps / lists inside a message

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Limits.{f.name} must be positive")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_LIMITS = Limits()
