"""Face-mesh landmarks -> one 58-channel ARKit frame (pure numpy; no mediapipe needed here).

Input: MediaPipe Face Mesh landmarks, an ``(N, 3)`` array with N = 468 (or 478 with the refined
irises) of normalised ``x`` (0..1 across the image width), ``y`` (0..1 down the image height) and
``z`` (depth in about the same scale as ``x``, smaller = nearer the camera), plus the image size.
They are turned into points in pixels in a right-handed frame that matches the ARKit conventions
of `models/motion/arkit.py` for an unmirrored camera image: ``X = x W`` (toward the subject's own
left), ``Y = -y H`` (up), ``Z = -z W`` (toward the camera). Landmark "left"/"right" are the
subject's own sides (MediaPipe's convention, like ARKit's).

Everything is measured **relative to a neutral frame** (`Neutral`, the user at rest, looking at
the camera), so different faces map to about 0 at rest:

- Head rotation: a similarity fit (Umeyama/Kabsch, closed form) of rigid landmarks (eye corners,
  nose, forehead, cheeks) of the neutral frame onto the current ones; yaw/pitch/roll in degrees
  from that rotation, decomposed as ``R = Ry(yaw) Rx(-pitch) Rz(-roll)``. Head translation (cm):
  the move of a pivot 9 cm behind the eyes, with pixels -> cm from the neutral eye-corner
  distance (taken as 9 cm); HeadZ from the fit's scale (a camera at 50 cm).
- Expression features are measured on the de-rotated, de-scaled points (so turning the head does
  not read as an expression), in units of the neutral face height (forehead to chin):
  eye aspect ratio -> EyeBlink / EyeWide; inner-lip gap -> JawOpen (MouthClose stays 0); mouth
  corners against the upper-lip centre plus mouth width -> MouthSmile / MouthFrown (and
  MouthStretch); brow-to-eye-corner height -> BrowInnerUp / BrowOuterUp / BrowDown; 478-point
  meshes also give eye gaze (EyeLook*) from the iris position between the eye corners.

`arkit_from_landmarks` is the pure function; `FaceMapper` adds the calibration: the neutral is
the mean of the first frames with a face, then a running baseline adapts the expression rest
values slowly while the face is near rest (lighting, posture and a first frame that was not quite
neutral wash out), and `recalibrate()` starts over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from models.motion.arkit import ARKIT_DIM, INDEX

# --- landmark indices (MediaPipe Face Mesh topology) ------------------------------------------------
# Eye aspect ratio sets: p1 (corner), p2, p3 (upper lid), p4 (other corner), p5, p6 (lower lid).
EYE_RIGHT = (33, 160, 158, 133, 153, 144)
EYE_LEFT = (263, 387, 385, 362, 380, 373)
EYE_CORNERS_RIGHT = (33, 133)
EYE_CORNERS_LEFT = (263, 362)
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
LIP_UPPER_OUTER = 0
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
FOREHEAD, CHIN = 10, 152
BROW_RIGHT_INNER, BROW_RIGHT_MID, BROW_RIGHT_OUTER = 107, 105, 70
BROW_LEFT_INNER, BROW_LEFT_MID, BROW_LEFT_OUTER = 336, 334, 300
IRIS_RIGHT, IRIS_LEFT = 468, 473  # centres, 478-point meshes only
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 10, 151, 9, 234, 454, 127, 356)
"""Landmarks that move with the skull, not with expressions: the head-pose fit uses them."""

EYE_CORNER_CM = 9.0  # outer eye corner to outer eye corner, a typical adult
CAMERA_CM = 50.0  # assumed camera distance for HeadZ
PIVOT_CM = 9.0  # the head turns about a point this far behind the eyes

# Gains: feature change (in neutral face heights, or ratios) that reads as a coefficient of 1.
BLINK_DEAD, BLINK_FULL = 0.15, 0.75  # 1 - EAR / EAR_rest
WIDE_FULL = 0.35  # EAR / EAR_rest - 1
JAW_FULL = 0.22  # inner-lip gap / face height
SMILE_LIFT_FULL = 0.035  # corner lift / face height
SMILE_WIDTH_FULL = 0.18  # mouth width / rest width - 1
FROWN_FULL = 0.03
BROW_UP_FULL = 0.05  # brow height / face height
BROW_DOWN_FULL = 0.03
GAZE_FULL = 0.25  # iris offset / eye width


@dataclass(frozen=True)
class Features:
    """Scalar expression measures of one frame (lengths in face heights of the neutral frame)."""

    ear_left: float
    ear_right: float
    lip_gap: float
    lift_left: float  # mouth corner above the upper-lip centre
    lift_right: float
    mouth_width: float
    brow_inner_left: float  # brow above the eye-corner line
    brow_inner_right: float
    brow_outer_left: float
    brow_outer_right: float
    gaze_x_left: float = 0.0  # iris offset from the eye centre, eye widths (+: subject's left)
    gaze_x_right: float = 0.0
    gaze_y_left: float = 0.0  # (+: up)
    gaze_y_right: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in self.__dataclass_fields__], np.float64)

    @classmethod
    def from_array(cls, x: np.ndarray) -> Features:
        return cls(*(float(v) for v in x))


@dataclass(frozen=True)
class Neutral:
    """The rest face every frame is compared with (see the module doc)."""

    rigid: np.ndarray  # (len(RIGID), 3) neutral rigid landmarks, pixels
    points: np.ndarray  # (N, 3) the whole neutral mesh, pixels
    face_height: float  # forehead to chin, pixels
    cm_per_px: float
    features: Features

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, width: int, height: int) -> Neutral:
        """The neutral of one frame (or of a mean of frames: pass their mean landmarks)."""
        p = to_points(landmarks, width, height)
        face_h = float(np.linalg.norm(p[FOREHEAD] - p[CHIN]))
        corners = float(np.linalg.norm(p[EYE_CORNERS_LEFT[0]] - p[EYE_CORNERS_RIGHT[0]]))
        if face_h <= 1e-6 or corners <= 1e-6:
            raise ValueError("degenerate face: forehead/chin or eye corners coincide")
        feats = measure(p, face_h)
        return cls(p[list(RIGID)].copy(), p, face_h, EYE_CORNER_CM / corners, feats)


def to_points(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised MediaPipe landmarks ``(N, 3)`` -> pixels in the ARKit-aligned frame ``(N, 3)``."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape[1] != 3 or lm.shape[0] < 468:
        raise ValueError(f"expected (468 or 478, 3) face-mesh landmarks, got shape {lm.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return np.stack([lm[:, 0] * width, -lm[:, 1] * height, -lm[:, 2] * width], axis=1)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: ``dst ~ s R src + t`` in least squares; returns (s, R (3, 3), t (3,))."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sv, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    dm = np.diag([1.0, 1.0, d])
    r = vt.T @ dm @ u.T
    s = float((sv * np.diag(dm)).sum() / max((a**2).sum(), 1e-12))
    return s, r, mu_d - s * r @ mu_s


def rotation_to_angles(r: np.ndarray) -> tuple[float, float, float]:
    """``R = Ry(yaw) Rx(-pitch) Rz(-roll)`` -> (yaw, pitch, roll) in degrees (ARKit signs)."""
    b = math.asin(max(-1.0, min(1.0, -float(r[1, 2]))))
    a = math.atan2(float(r[0, 2]), float(r[2, 2]))
    c = math.atan2(float(r[1, 0]), float(r[1, 1]))
    return math.degrees(a), -math.degrees(b), -math.degrees(c)


def angles_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The inverse of `rotation_to_angles` (degrees, ARKit signs) -> ``(3, 3)``."""
    a, b, c = math.radians(yaw), -math.radians(pitch), -math.radians(roll)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _ear(p: np.ndarray, idx: tuple[int, ...]) -> float:
    p1, p2, p3, p4, p5, p6 = (p[i] for i in idx)
    width = np.linalg.norm(p1[:2] - p4[:2])
    return float((np.linalg.norm(p2[:2] - p6[:2]) + np.linalg.norm(p3[:2] - p5[:2])) / (2 * max(width, 1e-9)))


def measure(p: np.ndarray, face_height: float) -> Features:
    """Expression measures of a de-rotated mesh ``p`` (pixels, ARKit-aligned frame)."""
    h = max(face_height, 1e-9)
    lip_centre = p[LIP_UPPER_INNER]
    eye_line_r = p[list(EYE_CORNERS_RIGHT)].mean(0)
    eye_line_l = p[list(EYE_CORNERS_LEFT)].mean(0)
    gaze = [0.0, 0.0, 0.0, 0.0]
    if len(p) >= 478:
        for k, (iris, corners) in enumerate(((IRIS_LEFT, EYE_CORNERS_LEFT), (IRIS_RIGHT, EYE_CORNERS_RIGHT))):
            c0, c1 = p[corners[0]], p[corners[1]]
            w = max(float(np.linalg.norm(c0[:2] - c1[:2])), 1e-9)
            off = p[iris] - (c0 + c1) / 2
            gaze[k] = float(off[0] / w)
            gaze[2 + k] = float(off[1] / w)
    return Features(
        ear_left=_ear(p, EYE_LEFT),
        ear_right=_ear(p, EYE_RIGHT),
        lip_gap=float(max(0.0, p[LIP_UPPER_INNER, 1] - p[LIP_LOWER_INNER, 1]) / h),
        lift_left=float((p[MOUTH_LEFT, 1] - lip_centre[1]) / h),
        lift_right=float((p[MOUTH_RIGHT, 1] - lip_centre[1]) / h),
        mouth_width=float(np.linalg.norm(p[MOUTH_LEFT, :2] - p[MOUTH_RIGHT, :2]) / h),
        brow_inner_left=float((p[BROW_LEFT_INNER, 1] - eye_line_l[1]) / h),
        brow_inner_right=float((p[BROW_RIGHT_INNER, 1] - eye_line_r[1]) / h),
        brow_outer_left=float((p[BROW_LEFT_OUTER, 1] - eye_line_l[1]) / h),
        brow_outer_right=float((p[BROW_RIGHT_OUTER, 1] - eye_line_r[1]) / h),
        gaze_x_left=gaze[0],
        gaze_x_right=gaze[1],
        gaze_y_left=gaze[2],
        gaze_y_right=gaze[3],
    )


def _ramp(x: float, full: float, dead: float = 0.0) -> float:
    """0 below `dead`, 1 at `full` and above, linear between."""
    return float(min(1.0, max(0.0, (x - dead) / (full - dead))))


@dataclass(frozen=True)
class Pose:
    """Head pose relative to the neutral frame, and the frame de-rotated into the neutral's frame."""

    yaw: float
    pitch: float
    roll: float
    x_cm: float
    y_cm: float
    z_cm: float
    aligned: np.ndarray  # (N, 3): the mesh with the head's rotation, scale and move undone


def head_pose(p: np.ndarray, neutral: Neutral) -> Pose:
    """The head's rotation and move since the neutral frame (see the module doc)."""
    s, r, t = similarity_fit(neutral.rigid, p[list(RIGID)])
    yaw, pitch, roll = rotation_to_angles(r)
    pivot0 = neutral.rigid.mean(0) - np.array([0.0, 0.0, PIVOT_CM / neutral.cm_per_px])
    pivot = s * r @ pivot0 + t
    move = (pivot - pivot0) * neutral.cm_per_px
    z = CAMERA_CM * (1.0 - 1.0 / max(s, 1e-6))
    aligned = ((p - t) @ r) / max(s, 1e-9)  # rows: R^T (p - t) / s
    return Pose(yaw, pitch, roll, float(move[0]), float(move[1]), float(z), aligned)


def coefficients(f: Features, rest: Features) -> dict[str, float]:
    """Blendshape coefficients (0..1) from a frame's measures against the rest measures."""
    out: dict[str, float] = {}
    for side, ear, ear0 in (("Left", f.ear_left, rest.ear_left), ("Right", f.ear_right, rest.ear_right)):
        ratio = ear / max(ear0, 1e-6)
        out[f"EyeBlink{side}"] = _ramp(1.0 - ratio, BLINK_FULL, BLINK_DEAD)
        out[f"EyeWide{side}"] = _ramp(ratio - 1.0, WIDE_FULL, 0.05)
    jaw = _ramp(f.lip_gap - rest.lip_gap, JAW_FULL, 0.005)
    out["JawOpen"] = jaw
    widen = f.mouth_width / max(rest.mouth_width, 1e-6) - 1.0
    for side, lift, lift0 in (
        ("Left", f.lift_left, rest.lift_left),
        ("Right", f.lift_right, rest.lift_right),
    ):
        d = lift - lift0
        smile = 0.6 * _ramp(d, SMILE_LIFT_FULL) + 0.4 * _ramp(widen, SMILE_WIDTH_FULL)
        out[f"MouthSmile{side}"] = min(1.0, smile * (1.0 if d > -0.25 * SMILE_LIFT_FULL else 0.3))
        out[f"MouthFrown{side}"] = _ramp(-d - 0.3 * jaw * JAW_FULL, FROWN_FULL, 0.003)
        out[f"MouthStretch{side}"] = _ramp(widen, 2 * SMILE_WIDTH_FULL) * (1.0 - _ramp(d, SMILE_LIFT_FULL))
    inner = 0.5 * (f.brow_inner_left - rest.brow_inner_left + f.brow_inner_right - rest.brow_inner_right)
    out["BrowInnerUp"] = _ramp(inner, BROW_UP_FULL, 0.004)
    for side, bi, bi0, bo, bo0 in (
        ("Left", f.brow_inner_left, rest.brow_inner_left, f.brow_outer_left, rest.brow_outer_left),
        ("Right", f.brow_inner_right, rest.brow_inner_right, f.brow_outer_right, rest.brow_outer_right),
    ):
        out[f"BrowOuterUp{side}"] = _ramp(bo - bo0, BROW_UP_FULL, 0.004)
        out[f"BrowDown{side}"] = _ramp(-(0.5 * (bi - bi0) + 0.5 * (bo - bo0)), BROW_DOWN_FULL, 0.003)
    for side, gx, gx0, gy, gy0, inward in (
        ("Left", f.gaze_x_left, rest.gaze_x_left, f.gaze_y_left, rest.gaze_y_left, -1.0),
        ("Right", f.gaze_x_right, rest.gaze_x_right, f.gaze_y_right, rest.gaze_y_right, 1.0),
    ):
        dx, dy = gx - gx0, gy - gy0  # +x: toward the subject's left
        out[f"EyeLookIn{side}"] = _ramp(inward * dx, GAZE_FULL, 0.02)
        out[f"EyeLookOut{side}"] = _ramp(-inward * dx, GAZE_FULL, 0.02)
        out[f"EyeLookUp{side}"] = _ramp(dy, GAZE_FULL, 0.02)
        out[f"EyeLookDown{side}"] = _ramp(-dy, GAZE_FULL, 0.02)
    return out


def arkit_from_landmarks(landmarks: np.ndarray, width: int, height: int, neutral: Neutral) -> np.ndarray:
    """One face-mesh frame -> a ``(58,)`` float32 ARKit frame relative to `neutral` (pure)."""
    p = to_points(landmarks, width, height)
    pose = head_pose(p, neutral)
    frame = np.zeros(ARKIT_DIM, np.float32)
    for name, value in coefficients(measure(pose.aligned, neutral.face_height), neutral.features).items():
        frame[INDEX[name]] = value
    head = (pose.yaw, pose.pitch, pose.roll, pose.x_cm, pose.y_cm, pose.z_cm)
    for name, value, limit in zip(
        ("HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ"),
        head,
        (90, 90, 90, 10, 10, 10),
        strict=True,
    ):
        frame[INDEX[name]] = float(np.clip(value, -limit, limit))
    return frame


@dataclass
class FaceMapper:
    """Landmarks -> ARKit frames with calibration (see the module doc).

    Args:
        calibration_frames: frames with a face averaged into the neutral (0: the first frame).
        adapt_rate: per-frame weight of the running baseline of the expression rest values,
            applied only while every coefficient is below `rest_threshold` (0.005 = ~8 s at 25 fps).
        rest_threshold: the largest coefficient of a frame that still counts as rest.
    """

    calibration_frames: int = 10
    adapt_rate: float = 0.005
    rest_threshold: float = 0.15
    neutral: Neutral | None = None
    _pending: list[np.ndarray] = field(default_factory=list)
    _size: tuple[int, int] | None = None

    @property
    def calibrated(self) -> bool:
        return self.neutral is not None

    def recalibrate(self) -> None:
        """Forget the neutral: the next frames calibrate again."""
        self.neutral = None
        self._pending = []

    def __call__(self, landmarks: np.ndarray, width: int, height: int) -> np.ndarray | None:
        """A ``(58,)`` frame, or None while the first `calibration_frames` frames calibrate."""
        lm = np.asarray(landmarks, np.float64)
        if self.neutral is None or self._size != (width, height):
            self._pending.append(lm)
            self._size = (width, height)
            if len(self._pending) < max(1, self.calibration_frames):
                return None
            self.neutral = Neutral.from_landmarks(np.mean(self._pending, axis=0), width, height)
            self._pending = []
        frame = arkit_from_landmarks(lm, width, height, self.neutral)
        if self.adapt_rate > 0 and float(frame[:52].max()) < self.rest_threshold:
            p = to_points(lm, width, height)
            now = measure(head_pose(p, self.neutral).aligned, self.neutral.face_height).as_array()
            rest = self.neutral.features.as_array()
            mixed = rest + self.adapt_rate * (now - rest)
            self.neutral = replace(self.neutral, features=Features.from_array(mixed))
        return frame
