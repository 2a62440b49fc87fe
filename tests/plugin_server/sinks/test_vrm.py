"""ARKit -> VRM 0.x presets and the Unity head pose used by the VMC sink."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.motion.arkit import ArkitSpace
from plugin_server.sinks.vrm import (
    VRM0_PRESETS,
    arkit_blendshapes,
    arkit_to_vrm0,
    head_pose_unity,
    quat_rotate,
)


def vec(**named: float) -> np.ndarray:
    return ArkitSpace.from_dicts([named])[0]


def test_neutral_face_gives_zero_presets_as_python_floats() -> None:
    out = arkit_to_vrm0(ArkitSpace.neutral()[0])
    assert tuple(out) == VRM0_PRESETS
    assert all(type(v) is float and v == 0.0 for v in out.values())
    assert all(type(v) is float for v in arkit_blendshapes(vec(JawOpen=1)).values())


def test_blinks_are_split_so_additive_presets_do_not_double_close() -> None:
    out = arkit_to_vrm0(vec(EyeBlinkLeft=1.0, EyeBlinkRight=0.25))
    assert out["Blink"] == 0.25 and out["Blink_L"] == 0.75 and out["Blink_R"] == 0.0


@pytest.mark.parametrize(
    ("shapes", "vowel"),
    [
        ({"JawOpen": 0.8}, "A"),
        ({"JawOpen": 0.7, "MouthFunnel": 0.9}, "O"),
        ({"MouthPucker": 0.9}, "U"),
        ({"MouthStretchLeft": 0.8, "MouthStretchRight": 0.8}, "I"),
        ({"JawOpen": 0.6, "MouthStretchLeft": 0.9, "MouthStretchRight": 0.9}, "E"),
    ],
)
def test_vowels(shapes: dict[str, float], vowel: str) -> None:
    out = arkit_to_vrm0(vec(**shapes))
    vowels = {k: out[k] for k in "AIUEO"}
    assert max(vowels, key=vowels.__getitem__) == vowel
    assert sum(vowels.values()) <= 1.0 + 1e-9


def test_random_frames_stay_in_range() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.uniform(-0.5, 1.5, 58)
        out = arkit_to_vrm0(v)
        assert all(0.0 <= x <= 1.0 for x in out.values())
        assert sum(out[k] for k in "AIUEO") <= 1.0 + 1e-9


def test_emotions_and_gaze() -> None:
    joy = arkit_to_vrm0(vec(MouthSmileLeft=1, MouthSmileRight=1, CheekSquintLeft=1, CheekSquintRight=1))
    fun = arkit_to_vrm0(vec(MouthSmileLeft=1, MouthSmileRight=1))
    assert joy["Joy"] == 1.0 and joy["Fun"] == 0.0 and fun["Fun"] == 1.0
    assert arkit_to_vrm0(vec(BrowDownLeft=1, BrowDownRight=1))["Angry"] == pytest.approx(0.7)
    assert arkit_to_vrm0(vec(BrowInnerUp=1, MouthFrownLeft=1, MouthFrownRight=1))["Sorrow"] == 1.0
    left = arkit_to_vrm0(vec(EyeLookOutLeft=0.8, EyeLookInRight=0.8))
    assert left["LookLeft"] == pytest.approx(0.8) and left["LookRight"] == 0.0


def test_head_quaternion_follows_unity_axes() -> None:
    # +30 deg yaw: the avatar turns to its own left, which is -x in Unity (it faces +z).
    (px, py, pz), q = head_pose_unity(vec(HeadYaw=30.0, HeadX=2.0, HeadY=-1.0, HeadZ=3.0))
    s, c = math.sin(math.radians(15)), math.cos(math.radians(15))
    assert q == pytest.approx((0.0, -s, 0.0, c), abs=1e-7)
    assert all(type(x) is float for x in (px, py, pz, *q))
    assert (px, py, pz) == pytest.approx((-0.02, -0.01, 0.03))
    fx, _, fz = quat_rotate(q, (0.0, 0.0, 1.0))
    assert fx == pytest.approx(-0.5) and fz == pytest.approx(math.sqrt(3) / 2)
    # +pitch raises the chin: forward tilts toward +y.
    _, q = head_pose_unity(vec(HeadPitch=20.0))
    assert quat_rotate(q, (0.0, 0.0, 1.0))[1] == pytest.approx(math.sin(math.radians(20)))
    # +roll tilts toward the avatar's left shoulder: the top of the head goes to -x.
    _, q = head_pose_unity(vec(HeadRoll=10.0))
    assert quat_rotate(q, (0.0, 1.0, 0.0))[0] == pytest.approx(-math.sin(math.radians(10)))
    # yaw then pitch (Unity's Z-X-Y order): the face turned left still looks up by the pitch.
    _, q = head_pose_unity(vec(HeadYaw=90.0, HeadPitch=30.0))
    fwd = quat_rotate(q, (0.0, 0.0, 1.0))
    assert fwd == pytest.approx((-math.cos(math.radians(30)), math.sin(math.radians(30)), 0.0), abs=1e-7)
    assert head_pose_unity(vec(HeadX=5.0), translation=False)[0] == (0.0, 0.0, 0.0)
