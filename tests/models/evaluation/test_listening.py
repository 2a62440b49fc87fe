"""The listening probe measures how much of the user's smile the generator passes on.

The generator is replaced by two known velocity fields on the probe's real inputs: one whose
clean estimate copies the user's face (a perfect mirror: the gain equals the user's own smile
rise) and one that ignores the user (gain 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.corpus.behaviour import Event
from models.corpus.conversation import ProceduralVoice, simulate_conversation
from models.evaluation.listening import listening_probe
from models.motion.arkit import INDEX
from tests.helpers import small_random_model

SMILE = [INDEX["MouthSmileLeft"], INDEX["MouthSmileRight"]]
ONSETS = (8.0, 14.0)


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    conv = simulate_conversation(3, ProceduralVoice(120, seed=1), ProceduralVoice(200, seed=2), 20.0)
    fps = conv.fps
    user = conv.user
    user.motion[:, SMILE] = 0.05
    user.events = [e for e in user.events if e.kind not in ("smile", "laugh")]
    for s in ONSETS:  # the user smiles (0.6) for 2 s, the avatar is silent around it
        user.motion[int(s * fps) : int((s + 2) * fps), SMILE] = 0.6
        user.events.append(Event("smile", s, s + 2.0, {"amplitude": 0.6}))
    conv.avatar.events = [
        e for e in conv.avatar.events if not any(e.start < s + 1.5 and e.end > s - 1.0 for s in ONSETS)
    ]
    path = tmp_path_factory.mktemp("listening") / "conv_00000.npz"
    conv.save(path)
    return path


def _with_velocity(mirror: bool):
    def forward_window(x_t, t, ref, cond, chunk):
        sigma = (t / 1000.0)[..., None]
        want = cond.user_motion if mirror else torch.zeros_like(x_t)  # the clean motion it aims at
        return torch.where(sigma > 0, (x_t - want) / sigma.clamp_min(1e-6), torch.zeros_like(x_t))

    return forward_window


@pytest.mark.parametrize("mirror", [True, False])
def test_gain_is_the_users_smile_for_a_mirror_and_zero_for_a_deaf_model(
    conversation: Path, mirror: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small_random_model()
    monkeypatch.setattr(model.generator, "forward_window", _with_velocity(mirror))
    out = listening_probe(model, [conversation])
    assert out["listening_onsets"] == len(ONSETS)
    if mirror:  # the mirror's smile follows the user's: 0.6 instead of 0.05 in every probed frame
        assert out["listening_smile_gain"] == pytest.approx(0.55, abs=1e-3)
    else:
        assert abs(out["listening_smile_gain"]) < 1e-6
    assert np.isfinite(out["listening_truth_rise"])
