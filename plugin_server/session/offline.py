"""Drive a `Session` from recordings on a virtual clock: the server's engine, offline.

`run_offline` feeds a session exactly what a live client would (the avatar's and the user's audio
in 40 ms chunks a little ahead of time, the user's face motion frame by frame) and ticks it on a
virtual clock, so the motion is what `avatar-forcing serve` would produce for the same input
(post-processing, blinks, turn detection included), only faster than real time. The demo uses
it; nothing here re-implements generation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from models.bundle import AvatarForcingModel
from models.motion.arkit import ARKIT_DIM, CHANNELS
from plugin_server.protocol import Audio, Config, Error, ServerMessage, UserMotion, encode_pcm

from .session import Session

log = logging.getLogger(__name__)

CHUNK_S = 0.04  # audio chunk length, as a live client sends
LEAD_S = 0.2  # how far ahead of the clock inputs are sent


def _chunks(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    step = max(1, round(CHUNK_S * rate))
    return [samples[i : i + step] for i in range(0, len(samples), step)]


def run_offline(
    model: AvatarForcingModel,
    avatar_audio: np.ndarray,
    avatar_rate: int,
    user_audio: np.ndarray | None = None,
    user_rate: int | None = None,
    user_motion: np.ndarray | None = None,
    config: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Motion for the recordings: `(T, 58)` ARKit frames at the model's fps, T covering the longer
    recording. `avatar_audio` / `user_audio`: `(samples,)` or `(samples, channels)` float;
    `user_motion`: `(frames, 58)` at the model's fps; `config`: session config keys (e.g. seed,
    motion_intensity, blink); `on_progress(frames_done, total)` after every tick."""
    fps = model.card.fps
    avatar = np.asarray(avatar_audio, np.float32)
    user = None if user_audio is None else np.asarray(user_audio, np.float32)
    u_rate = int(user_rate or avatar_rate)
    seconds = len(avatar) / avatar_rate
    if user is not None:
        seconds = max(seconds, len(user) / u_rate)
    total = math.ceil(seconds * fps)
    if user_motion is not None:
        user_motion = np.asarray(user_motion, np.float32)
        if user_motion.ndim != 2 or user_motion.shape[1] != ARKIT_DIM:
            raise ValueError(f"user_motion must be (frames, {ARKIT_DIM}), got {user_motion.shape}")

    session = Session("offline", model, 0.0, keep_arkit_blocks=1 << 16)
    cfg = {"outputs": ["motion"], "seed": 0, **(config or {})}
    _check(session.handle(Config(config=cfg), 0.0), "config")

    feeds: list[tuple[str, list[np.ndarray], int]] = [("avatar", _chunks(avatar, avatar_rate), avatar_rate)]
    if user is not None:
        feeds.append(("user", _chunks(user, u_rate), u_rate))
    sent = {name: 0 for name, _, _ in feeds}
    motion_sent = 0
    motion_seq = 0
    frames: list[np.ndarray] = []
    done = 0
    now = 0.0
    step = 1.0 / fps
    while done < total:
        horizon = now + LEAD_S
        for name, chunks, rate in feeds:
            while sent[name] < len(chunks) and sent[name] * CHUNK_S <= horizon:
                chunk = chunks[sent[name]]  # (samples,) or (samples, channels)
                msg = Audio(
                    stream=name,  # type: ignore[arg-type]
                    seq=sent[name],
                    format="f32le",
                    rate=rate,
                    channels=1 if chunk.ndim == 1 else chunk.shape[1],
                    data=encode_pcm(chunk, "f32le"),
                )
                _check(session.handle(msg, now), f"{name} audio")
                sent[name] += 1
        if user_motion is not None:
            upto = min(len(user_motion), math.ceil(horizon * fps))
            if upto > motion_sent:
                rows = user_motion[motion_sent:upto]
                msg_m = UserMotion(
                    seq=motion_seq, frames=rows.astype(np.float64).tolist(), names=list(CHANNELS)
                )
                _check(session.handle(msg_m, now), "user motion")
                motion_sent, motion_seq = upto, motion_seq + 1
        now += step
        _check(session.tick(now), "tick")
        for _, block in session.take_arkit_blocks():  # (n, 58)
            frames.append(block)
            done += len(block)
        if on_progress is not None:
            on_progress(min(done, total), total)
    session.close()
    return np.concatenate(frames)[:total]


def _check(out: list[ServerMessage], what: str) -> None:
    errors = [m for m in out if isinstance(m, Error)]
    if errors:
        raise ValueError(
            f"the session refused the {what}: " + "; ".join(f"{e.code}: {e.message}" for e in errors)
        )
