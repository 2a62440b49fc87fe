"""Turn taking: who is speaking (client cues and a server-side energy detector), as events."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TURN_STATES: tuple[str, ...] = ("idle", "avatar_speaking", "user_speaking", "both")


@dataclass
class TurnState:
    """Two flags, four states: idle / avatar_speaking / user_speaking / both."""

    user: bool = False
    avatar: bool = False

    @property
    def state(self) -> str:
        if self.user and self.avatar:
            return "both"
        if self.user:
            return "user_speaking"
        if self.avatar:
            return "avatar_speaking"
        return "idle"

    def set_user(self, on: bool) -> str | None:
        """Set the user flag; returns the event name if it changed ("user_started"/"user_stopped")."""
        if self.user == on:
            return None
        self.user = on
        return "user_started" if on else "user_stopped"

    def set_avatar(self, on: bool) -> str | None:
        if self.avatar == on:
            return None
        self.avatar = on
        return "avatar_started" if on else "avatar_stopped"


class EnergyVad:
    """A deliberately simple speech detector on block energy.

    A block is active when its RMS level is above `threshold_db` dBFS. Speech starts at the first
    active block and stops after `hangover_s` of inactive blocks (pauses between words do not end a
    turn). `update` returns True/False on a change, None otherwise.
    """

    def __init__(self, threshold_db: float = -40.0, hangover_s: float = 0.48) -> None:
        self.threshold_db = threshold_db
        self.hangover_s = hangover_s
        self.reset()

    def reset(self) -> None:
        self.speaking = False
        self._quiet_s = 0.0
        self.level_db = -120.0

    def update(self, samples: np.ndarray, seconds: float) -> bool | None:
        x = np.asarray(samples, np.float32)
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
        self.level_db = 20.0 * math.log10(max(rms, 1e-6))
        if self.level_db > self.threshold_db:
            self._quiet_s = 0.0
            if not self.speaking:
                self.speaking = True
                return True
            return None
        self._quiet_s += seconds
        if self.speaking and self._quiet_s >= self.hangover_s:
            self.speaking = False
            return False
        return None
