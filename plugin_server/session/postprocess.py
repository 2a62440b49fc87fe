"""Per-session shaping of generated ARKit frames: motion intensity and blink settings.

- Motion intensity k (0..2): every channel except the two eyelid blinks becomes
  `rest + k * (x - rest)` (blendshapes clamped to 0..1 afterwards). k = 0 freezes the face at the
  rest pose, 1 leaves the model's motion alone, 2 doubles every excursion. Blinks keep their
  depth: how often the avatar blinks is the blink settings' business.
- Blink enabled = False: EyeBlinkLeft/Right are held at the rest pose.
- Blink rate r (0..4): r = 1 keeps the model's blinks. r < 1 suppresses each model blink with
  probability 1 - r (a blink starts when the mean eyelid closure rises 0.35 above rest and ends
  when it falls below 0.2 above rest; while suppressed the eyelids stay at rest). r > 1 adds
  synthetic blinks at (r - 1) * 17 per minute (Poisson), each a 6-frame (240 ms) close-and-open
  profile combined with the model's by max().
All state carries across blocks, so a blink cut by a block boundary stays whole.
"""

from __future__ import annotations

import numpy as np

from models.motion.arkit import INDEX, NUM_BLENDSHAPES
from plugin_server.protocol import BlinkConfig

BLINK_CHANNELS = (INDEX["EyeBlinkLeft"], INDEX["EyeBlinkRight"])
BLINK_PROFILE = np.array([0.5, 1.0, 1.0, 0.7, 0.35, 0.1], np.float32)  # at 25 fps
HUMAN_BLINKS_PER_MIN = 17.0
ONSET, RELEASE = 0.35, 0.2


class MotionShaper:
    def __init__(self, rest: np.ndarray, fps: int, seed: int | None = None) -> None:
        self.rest = np.asarray(rest, np.float32).reshape(-1)
        self.fps = fps
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self._in_blink = False
        self._suppress = False
        self._synthetic_pos = -1  # index into BLINK_PROFILE of a running synthetic blink
        self._until_next: float | None = None  # frames to the next synthetic blink

    def apply(self, frames: np.ndarray, intensity: float, blink: BlinkConfig) -> np.ndarray:
        """(n, 58) -> (n, 58) shaped copy."""
        x = np.array(frames, np.float32, copy=True)
        if intensity != 1.0:
            keep = x[:, BLINK_CHANNELS].copy()
            x = self.rest + np.float32(intensity) * (x - self.rest)
            x[:, BLINK_CHANNELS] = keep
        rest_blink = self.rest[list(BLINK_CHANNELS)]
        if not blink.enabled:
            x[:, BLINK_CHANNELS] = rest_blink
            self.reset()
        else:
            if blink.rate < 1.0:
                self._suppress_blinks(x, blink.rate, rest_blink)
            if blink.rate > 1.0:
                self._add_blinks(x, blink.rate)
            else:
                self._synthetic_pos, self._until_next = -1, None
        x[:, :NUM_BLENDSHAPES] = np.clip(x[:, :NUM_BLENDSHAPES], 0.0, 1.0)
        return x

    def _suppress_blinks(self, x: np.ndarray, rate: float, rest_blink: np.ndarray) -> None:
        closure = x[:, BLINK_CHANNELS].mean(axis=1) - float(rest_blink.mean())
        for i, c in enumerate(closure):
            if not self._in_blink and c > ONSET:
                self._in_blink = True
                self._suppress = bool(self._rng.random() >= rate)
            elif self._in_blink and c < RELEASE:
                self._in_blink = False
                self._suppress = False
            if self._suppress:
                x[i, BLINK_CHANNELS] = rest_blink

    def _add_blinks(self, x: np.ndarray, rate: float) -> None:
        per_frame = (rate - 1.0) * HUMAN_BLINKS_PER_MIN / 60.0 / self.fps
        if self._until_next is None:
            self._until_next = float(self._rng.exponential(1.0 / per_frame))
        for i in range(len(x)):
            if self._synthetic_pos < 0:
                self._until_next -= 1.0
                if self._until_next <= 0:
                    self._synthetic_pos = 0
                    self._until_next = float(self._rng.exponential(1.0 / per_frame)) + len(BLINK_PROFILE)
            if self._synthetic_pos >= 0:
                v = BLINK_PROFILE[self._synthetic_pos]
                x[i, BLINK_CHANNELS] = np.maximum(x[i, BLINK_CHANNELS], v)
                self._synthetic_pos += 1
                if self._synthetic_pos >= len(BLINK_PROFILE):
                    self._synthetic_pos = -1
