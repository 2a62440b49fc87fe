"""Face-mesh landmarks -> ARKit (plugin_server/capture/face.py) on synthetic meshes: no mediapipe.

A canonical neutral face (cm, x toward the subject's left, y up, z toward the camera) is projected
into MediaPipe's normalised landmark coordinates; then the jaw opens, the eyes close, the mouth
corners rise, the brows rise, the head turns by known angles: the right channels move the right
way, and head angles come back within a degree.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.motion.arkit import ARKIT_DIM, INDEX
from plugin_server.capture.face import (
    RIGID,
    FaceMapper,
    Neutral,
    angles_to_rotation,
    arkit_from_landmarks,
    rotation_to_angles,
)

W, H = 640, 480
PX_PER_CM = 12.0
POINTS: dict[int, tuple[float, float, float]] = {
    # right eye (the subject's right: image left): corners, upper and lower lids
    33: (-4.5, 0.0, 0.0), 133: (-1.6, 0.0, 0.4), 160: (-3.6, 0.55, 0.3), 158: (-2.5, 0.55, 0.4),
    153: (-2.5, -0.45, 0.4), 144: (-3.6, -0.45, 0.3), 159: (-3.0, 0.6, 0.4), 145: (-3.0, -0.5, 0.4),
    # left eye
    263: (4.5, 0.0, 0.0), 362: (1.6, 0.0, 0.4), 387: (3.6, 0.55, 0.3), 385: (2.5, 0.55, 0.4),
    373: (3.6, -0.45, 0.3), 380: (2.5, -0.45, 0.4), 386: (3.0, 0.6, 0.4), 374: (3.0, -0.5, 0.4),
    # nose, forehead, cheeks (rigid)
    168: (0.0, 0.4, 1.0), 6: (0.0, -0.6, 1.6), 197: (0.0, -1.4, 2.2), 195: (0.0, -2.0, 2.8),
    5: (0.0, -2.6, 3.3), 4: (0.0, -3.0, 3.6), 1: (0.0, -3.3, 3.7), 2: (0.0, -4.2, 2.6),
    10: (0.0, 7.0, 0.8), 151: (0.0, 5.5, 1.2), 9: (0.0, 3.0, 1.2), 234: (-7.2, -1.0, -3.5),
    454: (7.2, -1.0, -3.5), 127: (-7.0, 1.5, -3.0), 356: (7.0, 1.5, -3.0),
    # mouth and chin
    0: (0.0, -5.4, 2.4), 13: (0.0, -6.2, 2.2), 14: (0.0, -6.25, 2.2), 17: (0.0, -7.2, 2.1),
    61: (-2.4, -6.3, 1.2), 291: (2.4, -6.3, 1.2), 152: (0.0, -11.0, 1.0),
    # brows: inner, middle, outer
    107: (-1.3, 1.8, 1.0), 105: (-3.1, 2.2, 0.8), 70: (-4.9, 1.8, 0.1),
    336: (1.3, 1.8, 1.0), 334: (3.1, 2.2, 0.8), 300: (4.9, 1.8, 0.1),
}  # fmt: skip
LOWER_JAW = (14, 17, 152)


def canonical_face(n: int = 468) -> np.ndarray:
    """(n, 3) face points in cm; unnamed landmarks lie on an ellipsoid (the face's surface)."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1.2, 1.2, n)
    v = rng.uniform(-1.0, 1.0, n)
    face = np.stack([7 * np.sin(u), 9 * v - 2, 4 * np.cos(u) * np.cos(v) - 3], axis=1)
    for i, p in POINTS.items():
        face[i] = p
    if n >= 478:  # irises in the middle of the eyes
        face[468] = (-3.05, 0.05, 0.45)
        face[473] = (3.05, 0.05, 0.45)
    return face


def project(
    face: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, move=(0, 0, 0)
) -> np.ndarray:
    """Rotate the face about a pivot 9 cm behind the eyes, move it (cm) and project it like
    MediaPipe: normalised x right, y down, z (smaller = nearer) in the scale of x."""
    pivot = np.array([0.0, 0.0, -9.0])
    r = angles_to_rotation(yaw, pitch, roll)
    p = (face - pivot) @ r.T + pivot + np.asarray(move, float)
    px = p * PX_PER_CM
    return np.stack([(W / 2 + px[:, 0]) / W, (H / 2 - px[:, 1]) / H, -px[:, 2] / W], axis=1)


def frame_of(face: np.ndarray, neutral: Neutral, **pose) -> np.ndarray:
    return arkit_from_landmarks(project(face, **pose), W, H, neutral)


@pytest.fixture()
def rest() -> tuple[np.ndarray, Neutral]:
    face = canonical_face()
    return face, Neutral.from_landmarks(project(face), W, H)


def ch(frame: np.ndarray, *names: str) -> float:
    return float(np.mean([frame[INDEX[n]] for n in names]))


def test_the_neutral_face_is_at_rest(rest) -> None:
    face, neutral = rest
    frame = frame_of(face, neutral)
    assert frame.shape == (ARKIT_DIM,) and frame.dtype == np.float32
    assert np.abs(frame).max() < 1e-4


def test_angles_round_trip() -> None:
    for angles in [(20, -10, 5), (-35, 15, -12), (0, 0, 30)]:
        assert rotation_to_angles(angles_to_rotation(*angles)) == pytest.approx(angles, abs=1e-9)


@pytest.mark.parametrize(
    "yaw, pitch, roll", [(20, 0, 0), (-25, 0, 0), (0, 15, 0), (0, -12, 0), (0, 0, 10), (15, -8, 6)]
)
def test_head_rotation_comes_back(rest, yaw: float, pitch: float, roll: float) -> None:
    face, neutral = rest
    frame = frame_of(face, neutral, yaw=yaw, pitch=pitch, roll=roll)
    got = [frame[INDEX[n]] for n in ("HeadYaw", "HeadPitch", "HeadRoll")]
    assert got == pytest.approx([yaw, pitch, roll], abs=1.0)
    # turning the head is not an expression, and the pivot stays put
    assert frame[:52].max() < 0.05
    assert np.abs(frame[[INDEX["HeadX"], INDEX["HeadY"], INDEX["HeadZ"]]]).max() < 0.5


def test_head_rotation_signs_follow_arkit() -> None:
    """+yaw: the nose goes toward the subject's left (image right for an unmirrored camera);
    +pitch: the chin rises (the nose goes up in the image); +roll: toward the left shoulder."""
    face = canonical_face()
    base = project(face)
    assert project(face, yaw=20)[1, 0] > base[1, 0]  # nose tip moves right in the image
    assert project(face, pitch=15)[1, 1] < base[1, 1]  # nose tip moves up (y is down)
    tilted = project(face, roll=15)
    assert tilted[10, 0] > base[10, 0]  # the forehead leans toward the subject's left


def test_head_translation_in_cm(rest) -> None:
    face, neutral = rest
    frame = frame_of(face, neutral, move=(2.0, -1.0, 0.0))
    assert frame[INDEX["HeadX"]] == pytest.approx(2.0, abs=0.3)
    assert frame[INDEX["HeadY"]] == pytest.approx(-1.0, abs=0.3)
    nearer = arkit_from_landmarks(project(face * 1.1), W, H, neutral)  # 10 % larger: nearer
    assert nearer[INDEX["HeadZ"]] > 2.0


def test_jaw_open(rest) -> None:
    face, neutral = rest
    opened = face.copy()
    opened[list(LOWER_JAW)] += (0.0, -2.5, -0.3)
    frame = frame_of(opened, neutral)
    assert ch(frame, "JawOpen") > 0.5
    assert ch(frame, "EyeBlinkLeft", "EyeBlinkRight", "MouthSmileLeft", "MouthSmileRight") < 0.05
    wide = face.copy()
    wide[list(LOWER_JAW)] += (0.0, -5.0, -0.5)
    assert ch(frame_of(wide, neutral), "JawOpen") > ch(frame, "JawOpen")


def test_eyes_close(rest) -> None:
    face, neutral = rest
    closed = face.copy()
    for upper, lower in ((160, 144), (158, 153), (387, 373), (385, 380)):
        closed[upper, 1] = closed[lower, 1] = 0.0  # lids meet on the corner line
    frame = frame_of(closed, neutral)
    assert ch(frame, "EyeBlinkLeft") > 0.9 and ch(frame, "EyeBlinkRight") > 0.9
    assert ch(frame, "JawOpen", "BrowInnerUp") < 0.05
    wink = face.copy()
    for upper, lower in ((387, 373), (385, 380)):  # the subject's left eye only
        wink[upper, 1] = wink[lower, 1] = 0.0
    frame = frame_of(wink, neutral, yaw=15)  # and with the head turned
    assert ch(frame, "EyeBlinkLeft") > 0.9 and ch(frame, "EyeBlinkRight") < 0.1


def test_smile_and_frown(rest) -> None:
    face, neutral = rest
    smile = face.copy()
    smile[61] += (-0.4, 0.7, 0.0)
    smile[291] += (0.4, 0.7, 0.0)
    frame = frame_of(smile, neutral, yaw=-10, pitch=5)
    assert ch(frame, "MouthSmileLeft") > 0.6 and ch(frame, "MouthSmileRight") > 0.6
    assert ch(frame, "MouthFrownLeft", "MouthFrownRight", "JawOpen") < 0.05
    frown = face.copy()
    frown[61] += (0.0, -0.5, 0.0)
    frown[291] += (0.0, -0.5, 0.0)
    frame = frame_of(frown, neutral)
    assert ch(frame, "MouthFrownLeft", "MouthFrownRight") > 0.6
    assert ch(frame, "MouthSmileLeft", "MouthSmileRight") < 0.05


def test_brows(rest) -> None:
    face, neutral = rest
    up = face.copy()
    up[[107, 105, 70, 336, 334, 300], 1] += 0.8
    frame = frame_of(up, neutral)
    assert ch(frame, "BrowInnerUp") > 0.5 and ch(frame, "BrowOuterUpLeft", "BrowOuterUpRight") > 0.5
    assert ch(frame, "BrowDownLeft", "BrowDownRight", "EyeBlinkLeft") < 0.05
    down = face.copy()
    down[[107, 105, 70, 336, 334, 300], 1] -= 0.5
    frame = frame_of(down, neutral)
    assert ch(frame, "BrowDownLeft", "BrowDownRight") > 0.6 and ch(frame, "BrowInnerUp") < 0.05


def test_gaze_from_the_irises() -> None:
    face = canonical_face(478)
    neutral = Neutral.from_landmarks(project(face), W, H)
    look = face.copy()
    look[[468, 473], 0] += 0.6  # both irises toward the subject's left
    frame = arkit_from_landmarks(project(look), W, H, neutral)
    assert ch(frame, "EyeLookOutLeft", "EyeLookInRight") > 0.5
    assert ch(frame, "EyeLookInLeft", "EyeLookOutRight") == 0.0


def test_different_faces_are_at_rest_after_calibration() -> None:
    """A wider face with a bigger mouth and lower brows reads as neutral once calibrated."""
    face = canonical_face()
    other = face * np.array([1.15, 0.95, 1.0])
    other[[61, 291], 0] *= 1.2
    other[[107, 105, 70, 336, 334, 300], 1] -= 0.3
    mapper = FaceMapper(calibration_frames=3)
    assert mapper(project(other), W, H) is None and not mapper.calibrated
    mapper(project(other), W, H)
    first = mapper(project(other), W, H)
    assert mapper.calibrated and first is not None and np.abs(first).max() < 1e-3
    opened = other.copy()
    opened[list(LOWER_JAW)] += (0.0, -2.5, 0.0)
    assert ch(mapper(project(opened, yaw=10), W, H), "JawOpen") > 0.5


def test_running_baseline_adapts_at_rest_only() -> None:
    face = canonical_face()
    mapper = FaceMapper(calibration_frames=1, adapt_rate=0.05)
    mapper(project(face), W, H)
    assert mapper.neutral is not None
    rest_gap = mapper.neutral.features.lip_gap
    parted = face.copy()
    parted[list(LOWER_JAW)] += (0.0, -0.25, 0.0)  # lips slightly apart at rest (small JawOpen)
    for _ in range(100):
        frame = mapper(project(parted), W, H)
    assert mapper.neutral.features.lip_gap > rest_gap  # the baseline followed
    assert frame is not None and ch(frame, "JawOpen") < 0.02
    wide = face.copy()
    wide[list(LOWER_JAW)] += (0.0, -4.0, 0.0)
    before = mapper.neutral.features.lip_gap
    for _ in range(20):
        mapper(project(wide), W, H)  # an open mouth is not rest: the baseline stays
    assert mapper.neutral.features.lip_gap == before
    mapper.recalibrate()
    assert not mapper.calibrated


def test_bad_input_is_refused(rest) -> None:
    _, neutral = rest
    with pytest.raises(ValueError, match="468 or 478"):
        arkit_from_landmarks(np.zeros((10, 3)), W, H, neutral)
    with pytest.raises(ValueError, match="image size"):
        arkit_from_landmarks(project(canonical_face()), 0, H, neutral)
    assert RIGID  # the pose fit uses the rigid landmarks named in the module
