import numpy as np
import pytest

from models.motion.arkit import ARKIT_DIM, INDEX
from plugin_server.session.mapping import VRM0_NAMES, VRM1_NAMES, VTS_NAMES, map_frames, output_names
from plugin_server.sinks.vrm import arkit_to_vrm0
from plugin_server.sinks.vtube_studio import arkit_to_vts


def frame(**channels: float) -> np.ndarray:
    x = np.zeros((1, ARKIT_DIM), np.float32)
    for name, value in channels.items():
        x[0, INDEX[name]] = value
    return x


def named(naming: str, x: np.ndarray) -> dict[str, float]:
    names, values = map_frames(x, naming)
    assert values.shape == (len(x), len(names)) and values.dtype == np.float32
    return dict(zip(names, values[0].tolist(), strict=True))


def test_names() -> None:
    arkit = output_names("arkit")
    assert arkit[:2] == ["EyeBlinkLeft", "EyeLookDownLeft"] and len(arkit) == 58
    assert (
        output_names("arkit", "lr")[0] == "eyeBlink_L" and output_names("arkit", "camel")[0] == "eyeBlinkLeft"
    )
    assert output_names("vrm")[: len(VRM0_NAMES)] == list(VRM0_NAMES) and output_names("vrm")[-1] == "HeadZ"
    assert output_names("vrm1")[: len(VRM1_NAMES)] == list(VRM1_NAMES)
    assert output_names("vts") == list(VTS_NAMES) and "MouthOpen" in VTS_NAMES
    with pytest.raises(ValueError):
        output_names("live2d")


def test_same_formulas_as_the_sinks() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 1, (5, 52)), rng.normal(0, 20, (5, 6))], axis=1).astype(np.float32)
    _, vrm = map_frames(x, "vrm")
    _, vts = map_frames(x, "vts")
    for i in range(5):
        assert np.allclose(vrm[i, :16], list(arkit_to_vrm0(x[i]).values()), atol=1e-6)
        assert np.allclose(vts[i], list(arkit_to_vts(x[i]).values()), atol=1e-5)
        assert np.array_equal(vrm[i, 16:], x[i, 52:])  # head pose passed through


def test_neutral_face() -> None:
    assert all(v == 0.0 for v in named("vrm", frame()).values())
    vts = named("vts", frame())
    assert vts["MouthOpen"] == 0 and vts["EyeOpenLeft"] == 1 and vts["EyeOpenRight"] == 1
    assert vts["MouthSmile"] == 0.5 and vts["BrowLeftY"] == 0.5 and vts["Brows"] == 0.5


def test_jaw_open_is_a_and_mouth_open() -> None:
    vrm = named("vrm", frame(JawOpen=1.0))
    assert vrm["A"] == pytest.approx(1.0) and vrm["I"] == 0 and vrm["U"] == 0
    assert named("vrm1", frame(JawOpen=1.0))["aa"] == pytest.approx(1.0)
    assert named("vts", frame(JawOpen=1.0))["MouthOpen"] == pytest.approx(1.0)
    assert named("vts", frame(JawOpen=0.6, MouthClose=0.6))["MouthOpen"] == pytest.approx(0.0)  # lips sealed


def test_vowels() -> None:
    assert named("vrm", frame(MouthPucker=1.0))["U"] == pytest.approx(1.0)
    o = named("vrm", frame(MouthFunnel=1.0, JawOpen=1.0))
    assert o["O"] == pytest.approx(1.0) and o["A"] == pytest.approx(0.0)
    spread = named("vrm", frame(MouthStretchLeft=1.0, MouthStretchRight=1.0))
    assert spread["I"] == pytest.approx(1.0) and spread["E"] == 0
    half = named("vrm", frame(MouthStretchLeft=0.5, MouthStretchRight=0.5, JawOpen=0.5))
    assert half["E"] == half["A"] == half["I"] == pytest.approx(0.25)
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 1, (100, 52)), np.zeros((100, 6))], axis=1).astype(np.float32)
    _, v = map_frames(x, "vrm")
    assert (v[:, :5].sum(axis=1) <= 1 + 1e-5).all()  # the visemes never over-drive the mouth


def test_blinks() -> None:
    both = named("vrm", frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0))
    assert both["Blink"] == 1 and both["Blink_L"] == 0 and both["Blink_R"] == 0
    left = named("vrm", frame(EyeBlinkLeft=0.8))
    assert left["Blink"] == 0 and left["Blink_L"] == pytest.approx(0.8) and left["Blink_R"] == 0
    assert named("vrm1", frame(EyeBlinkLeft=0.8))["blinkLeft"] == pytest.approx(0.8)
    vts = named("vts", frame(EyeBlinkLeft=1.0, EyeBlinkRight=0.9))
    assert vts["EyeOpenLeft"] == 0 and vts["EyeOpenRight"] == pytest.approx(0.1)


def test_emotions_and_gaze() -> None:
    smile = named(
        "vrm", frame(MouthSmileLeft=1.0, MouthSmileRight=1.0, CheekSquintLeft=0.5, CheekSquintRight=0.5)
    )
    assert smile["Joy"] == pytest.approx(0.5) and smile["Fun"] == pytest.approx(0.5) and smile["Angry"] == 0
    assert named("vrm1", frame(MouthSmileLeft=1.0, MouthSmileRight=1.0))["relaxed"] == pytest.approx(1.0)
    assert named("vts", frame(MouthSmileLeft=1.0, MouthSmileRight=1.0))["MouthSmile"] == pytest.approx(1.0)
    assert named("vts", frame(MouthFrownLeft=1.0, MouthFrownRight=1.0))["MouthSmile"] == pytest.approx(0.0)
    assert named("vrm", frame(BrowDownLeft=1.0, BrowDownRight=1.0))["Angry"] == pytest.approx(0.7)
    assert named("vrm1", frame(BrowInnerUp=1.0))["sad"] == pytest.approx(0.5)
    wow = frame(EyeWideLeft=1, EyeWideRight=1, BrowOuterUpLeft=1, BrowOuterUpRight=1)
    assert named("vrm1", wow)["surprised"] == pytest.approx(1.0)
    look_left = frame(EyeLookOutLeft=1.0, EyeLookInRight=1.0)
    assert named("vrm", look_left)["LookLeft"] == 1 and named("vrm", look_left)["LookRight"] == 0
    vts = named("vts", look_left)
    assert vts["EyeLeftX"] == 1 and vts["EyeRightX"] == 1
    assert named("vts", frame(EyeLookUpLeft=1.0))["EyeLeftY"] == 1
    brows = named("vts", frame(BrowOuterUpLeft=1.0, BrowDownRight=1.0))
    assert brows["BrowLeftY"] == 1 and brows["BrowRightY"] == 0 and brows["Brows"] == 0.5
    assert named("vts", frame(MouthLeft=0.4))["MouthX"] == pytest.approx(0.4)
    assert named("vts", frame(CheekPuff=0.3, TongueOut=0.7))["TongueOut"] == pytest.approx(0.7)


def test_head_pose() -> None:
    x = frame(HeadYaw=45.0, HeadPitch=-10.0, HeadRoll=100.0, HeadX=3.0, HeadY=-20.0, HeadZ=1.0)
    vts = named("vts", x)
    assert (vts["FaceAngleX"], vts["FaceAngleY"], vts["FaceAngleZ"]) == (45.0, -10.0, 90.0)
    assert (vts["FacePositionX"], vts["FacePositionY"], vts["FacePositionZ"]) == (3.0, -10.0, 1.0)
    vrm = named("vrm", x)
    assert vrm["HeadYaw"] == 45.0 and vrm["HeadRoll"] == 100.0  # passed through for the Head bone


def test_outputs_stay_in_range() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-0.5, 1.5, (200, 52)), rng.normal(0, 60, (200, 6))], axis=1)
    for naming in ("vrm", "vrm1"):
        _, v = map_frames(x, naming)
        assert (v[:, :-6] >= 0).all() and (v[:, :-6] <= 1).all()
    names, v = map_frames(x, "vts")
    for j, n in enumerate(names):
        bound = 90 if n.startswith("FaceAngle") else 10 if n.startswith("FacePos") else 1
        signed = n.endswith(("X", "Y", "Z")) and not n.startswith("Brow")
        assert v[:, j].max() <= bound and v[:, j].min() >= (-bound if signed else 0), n
    with pytest.raises(ValueError):
        map_frames(np.zeros((2, 52)), "vts")
