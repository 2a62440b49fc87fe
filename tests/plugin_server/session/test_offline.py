"""`run_offline`: the server's session engine driven from recordings on a virtual clock."""

from __future__ import annotations

import numpy as np
import pytest

from models.bundle import AvatarForcingModel
from models.motion.arkit import INDEX
from models.stream import animate
from plugin_server.session.offline import run_offline

from .conftest import speech


def test_offline_session_matches_the_streaming_animate_path(model: AvatarForcingModel) -> None:
    """Same recordings, same seed: the session engine and `animate` give the same frames (the
    session's shaping is the identity at motion_intensity 1 with the model's own blinks), so the
    demo shows what the server would send."""
    rate = 22050
    voice = speech(1.3, rate)
    mic = 0.2 * speech(1.5, 16000, seed=4)
    face = np.zeros((30, 58), np.float32)
    face[:, INDEX["HeadYaw"]] = np.linspace(-10, 10, 30)
    got = run_offline(model, voice, rate, mic, 16000, face, config={"seed": 5, "server_vad": False})
    assert got.shape == (round(1.5 * 25), 58)  # the longer recording
    ref = animate(model, np.pad(voice, (0, round(0.2 * rate))), rate, mic, 16000, face, seed=5)
    n = min(len(ref), len(got)) - 4  # the last block: animate's is a partial one, the session's is not
    assert np.allclose(got[:n], ref[:n], atol=1e-5)


def test_offline_progress_and_errors(model: AvatarForcingModel) -> None:
    seen: list[tuple[int, int]] = []
    out = run_offline(model, speech(0.5, 16000), 16000, on_progress=lambda d, t: seen.append((d, t)))
    assert len(out) == 13 and seen[-1] == (13, 13) and all(t == 13 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(ValueError, match="refused the config"):
        run_offline(model, speech(0.2, 16000), 16000, config={"nfe": 1})
    with pytest.raises(ValueError, match="user_motion must be"):
        run_offline(model, speech(0.2, 16000), 16000, user_motion=np.zeros((5, 3)))
