"""A piece of speech (or a laugh, or a backchannel) with its phone timings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .phones import PhoneSegment

UTTERANCE_KINDS: tuple[str, ...] = ("speech", "backchannel", "laugh")


@dataclass
class Utterance:
    audio: np.ndarray  # (N,) float32 mono, -1..1
    sample_rate: int
    phones: list[PhoneSegment]  # times in seconds from the start of `audio`
    text: str
    source: str  # e.g. "espeak-ng:en-us+f3", "flite:slt", "asterisk"
    kind: str = "speech"
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in UTTERANCE_KINDS:
            raise ValueError(f"unknown utterance kind {self.kind!r}; valid: {list(UTTERANCE_KINDS)}")
        if self.audio.ndim != 1:
            raise ValueError(f"audio must be mono (N,); got {self.audio.shape}")

    @property
    def duration(self) -> float:
        return len(self.audio) / float(self.sample_rate)
