from pathlib import Path

import numpy as np
import pytest
import torch

from models.motion import ARKIT_BLENDSHAPES, ARKIT_DIM, ArkitSpace, MotionStats, canonical_name
from models.motion.arkit import speech_channel_indices, spell
from models.motion.io import read_motion, write_motion


def test_layout() -> None:
    assert len(ARKIT_BLENDSHAPES) == 52 and ARKIT_DIM == 58
    assert ArkitSpace.index("HeadYaw") == 52 and ArkitSpace.index("TongueOut") == 51


@pytest.mark.parametrize("name", ["EyeBlinkLeft", "eyeBlinkLeft", "eyeBlink_L", "EYEBLINKLEFT", "eyeblink_l"])
def test_three_spellings(name: str) -> None:
    assert canonical_name(name) == "EyeBlinkLeft"


def test_spell_back() -> None:
    assert spell("mouthSmile_R", "pascal") == "MouthSmileRight"
    assert spell("MouthSmileRight", "camel") == "mouthSmileRight"
    assert spell("MouthSmileRight", "lr") == "mouthSmile_R"
    assert spell("JawOpen", "lr") == "jawOpen"
    with pytest.raises(ValueError, match="spelling"):
        spell("JawOpen", "kebab")  # type: ignore[arg-type]


def test_unknown_name_suggests() -> None:
    with pytest.raises(KeyError, match="JawOpen"):
        canonical_name("JawOpn")


def test_dicts_round_trip_and_clamp() -> None:
    frames = ArkitSpace.from_dicts([{"jawOpen": 0.5, "eyeBlink_L": 1.2, "HeadYaw": -12.0}, {}])
    assert frames.shape == (2, 58)
    assert frames[0, ArkitSpace.index("JawOpen")] == 0.5
    clamped = ArkitSpace.clamp(frames)
    assert clamped[0, 0] == 1.0 and clamped[0, 52] == -12.0  # head pose is not clamped
    d = ArkitSpace.to_dict(clamped[0], "lr")
    assert d["eyeBlink_L"] == 1.0 and d["headYaw"] == -12.0
    with pytest.raises(KeyError, match="frame 0"):
        ArkitSpace.from_dicts([{"NotAShape": 1.0}])


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_motion_files_round_trip(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(0)
    motion = ArkitSpace.clamp(rng.uniform(-1, 1, (7, 58)).astype(np.float32))
    path = write_motion(tmp_path / f"m.{ext}", motion, 25, "lr")
    back, fps = read_motion(path)
    assert fps == 25
    assert np.allclose(back, motion, atol=1e-4)


def test_motion_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="txt"):
        write_motion(tmp_path / "m.txt", np.zeros((1, 58)), 25)
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,JawOpen,Jaw_Wide\n0,0.1,0.2\n")
    with pytest.raises(KeyError, match="Jaw_Wide"):
        read_motion(bad)


def test_stats() -> None:
    x = np.random.default_rng(0).normal(3, 2, (1000, 4)).astype(np.float32)
    s = MotionStats.fit(x)
    t = torch.from_numpy(x)
    assert torch.allclose(s.denormalize(s.normalize(t)), t, atol=1e-5)
    assert abs(float(s.normalize(t).mean())) < 1e-3
    assert MotionStats.from_dict(s.to_dict()).mean.tolist() == s.mean.tolist()
    with pytest.raises(ValueError, match="positive"):
        MotionStats(np.zeros(2, np.float32), np.zeros(2, np.float32))


def test_speech_channels_are_articulation_not_expression() -> None:
    names = {ArkitSpace.channels[i] for i in speech_channel_indices()}
    assert {"JawOpen", "MouthClose", "MouthPucker", "MouthFunnel", "MouthPressLeft", "TongueOut"} <= names
    assert not names & {
        "MouthSmileLeft",
        "MouthSmileRight",
        "MouthFrownLeft",
        "MouthDimpleRight",
        "EyeBlinkLeft",
    }
    assert not names & {"HeadPitch", "HeadYaw", "BrowInnerUp"}
