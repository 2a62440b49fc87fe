"""The built-in stylised 2D avatar ("cartoon"): a flat-shaded anime-style bust drawn with skia.

The avatar is a friendly head and shoulders (hair with a fringe and side locks, ears, neck, a shirt)
whose face follows the ARKit frame: eyes with gaze and lids, brows, a mouth that opens, rounds,
stretches, smiles and frowns, cheeks and head turn / tilt / nod with a pseudo-3D look. It draws on a
transparent background by default, so it can be laid over a stream (OBS) as it is.

Pipeline::

    frame (58,) float32 ──cartoon_pose──► CartoonPose (clamped, named shape parameters; pure)
                        ──_Painter.draw──► skia raster surface ──readPixels──► (H, W, 4) uint8 RGBA

Geometry lives in *design units*: a DESIGN x DESIGN (900) box centred on the origin (y down) that is fitted
into the smaller side of the image and centred. Face parts are laid out in *face coordinates* (u, v)
around the head centre; a small projection (:class:`_View`) maps them to the screen for the head's
yaw and pitch: points on the face front sit on a curved surface and rotate (features slide and the
far side foreshortens), points on the silhouette keep to a sphere-like outline that shifts a little
toward the turn. Roll, translation and scale are a plain canvas transform about the neck.

``obs_integration/cartoon.js`` is a line-by-line port of :func:`cartoon_pose` and :class:`_Painter`
for a browser canvas; keep the two in step (``tests/models/render/test_cartoon_js.py`` compares them).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from models.motion.arkit import ARKIT_BLENDSHAPES, INDEX, NUM_BLENDSHAPES
from models.render.base import (
    PIP_HINT,
    RenderConfig,
    Renderer,
    RendererError,
    RendererUnavailableError,
    check_frames,
    register_renderer,
)

try:
    import skia
except ImportError as _exc:  # pragma: no cover - the render extra is missing
    raise RendererUnavailableError(f"the cartoon renderer needs skia-python: {PIP_HINT} ({_exc})") from _exc

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Point = tuple[float, float]

# ----------------------------------------------------------------------------------------- layout
DESIGN = 900.0  # the design box's side, fitted into min(width, height)
HEAD_CY = -40.0  # head centre (origin of face coordinates), design units
PIVOT_Y = 190.0  # roll / scale pivot at the top of the neck, design units
MAX_ANGLE = 45.0  # yaw / pitch / roll are clamped to +-MAX_ANGLE degrees
YAW_GAIN = 0.75  # fraction of the head yaw the drawing shows (a flat face reads well up to ~35 deg)
PITCH_GAIN = 0.6
MAX_SHIFT_CM = 6.0  # HeadX / HeadY clamp
CM = 7.0  # design units per centimetre of head translation
MAX_Z_CM = 8.0  # HeadZ clamp
Z_SCALE = 0.015  # scale change per centimetre toward the camera

FACE_DEPTH = 120.0  # how far the face front stands out of the silhouette plane (face coordinates)
FACE_CURVE = 250.0  # half-width at which the face front curves back to the silhouette plane
CHIN_DEPTH = 115.0  # forward offset of the chin for the outline's turn
HEAD_SHIFT = 36.0  # the head centre's sideways travel at full turn (the neck pivot is behind it)

EYE_X, EYE_Y = 92.0, 22.0  # eye centres (+-EYE_X), face coordinates
EYE_W, EYE_H = 54.0, 42.0  # eye half-width and open half-height
IRIS_RX, IRIS_RY = 29.0, 37.0
BROW_Y = -EYE_H - 38.0  # brow base height relative to the eye centre
NOSE_Y = 98.0
MOUTH_Y = 152.0  # mouth centre, face coordinates
MOUTH_W = 44.0  # mouth half-width at rest
CHIN_V = 242.0
BLUSH_X, BLUSH_Y = 132.0, 102.0

HEX = re.compile(r"#[0-9a-fA-F]{6}")


# ----------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class CartoonConfig(RenderConfig):
    """Options of the cartoon renderer; colours are ``#RRGGBB``."""

    background: str = "transparent"  # "transparent" (alpha 0, for overlays) or a #RRGGBB colour
    skin: str = "#FCDCC9"
    hair: str = "#5B3F66"
    eyes: str = "#3C9FB5"  # iris colour
    shirt: str = "#5C6FD6"
    mouth: str = "#C9566A"  # lips; the mouth's inside, tongue and line are derived from it
    outline_color: str = "#3A2933"
    outline: float = 2.5  # outline width in pixels at 512 x 512 (scales with the size); 0 = none
    blush: float = 0.5  # cheek blush strength, 0..1

    COLOR_FIELDS: ClassVar[tuple[str, ...]] = ("skin", "hair", "eyes", "shirt", "mouth", "outline_color")

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in self.COLOR_FIELDS:
            value = getattr(self, key)
            if not isinstance(value, str) or not HEX.fullmatch(value):
                raise RendererError(f"{key} must be a colour like '#A1B2C3', got {value!r}")
        bg = self.background
        if not isinstance(bg, str) or not (bg.lower() == "transparent" or HEX.fullmatch(bg)):
            raise RendererError(f"background must be 'transparent' or a colour like '#A1B2C3', got {bg!r}")
        for key, hi in (("outline", 12.0), ("blush", 1.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= hi:
                raise RendererError(f"{key} must be a number in 0..{hi:g}, got {value!r}")


# ------------------------------------------------------------------------------------------- pose
@dataclass(frozen=True, slots=True)
class EyeShape:
    """One eye in its local frame (design units, +x toward the outer corner, +y down)."""

    upper: float  # upper lid's control height (negative = open; the lid peaks at 0.75 * upper)
    lower: float  # lower lid's control height (>= upper; equal = closed)
    gaze_x: float  # iris offset, +x outward
    gaze_y: float  # iris offset, +y down
    iris: float  # iris scale (EyeWide shrinks it a little: a startled look)


@dataclass(frozen=True, slots=True)
class BrowShape:
    """One brow in its eye's local frame: inner end, arch and outer end heights (+y down)."""

    inner_x: float
    inner_y: float
    mid_y: float
    outer_y: float


@dataclass(frozen=True, slots=True)
class MouthShape:
    """The mouth opening in face coordinates relative to the mouth centre (+x = viewer's right).

    The opening runs from the right corner (avatar's right, viewer's left) over the upper lip's
    middle to the left corner and back under the lower lip's middle; closed = upper_y == lower_y.
    """

    right_x: float
    right_y: float
    left_x: float
    left_y: float
    upper_x: float
    upper_y: float
    lower_x: float
    lower_y: float
    roundness: float  # 0 = pointed corners (a line / smile), 1 = an oval ("oo")
    tongue: float  # TongueOut 0..1
    pucker: float  # MouthPucker 0..1: draws pursed lips


@dataclass(frozen=True, slots=True)
class CartoonPose:
    """Everything the painter needs, computed from one ARKit frame (see :func:`cartoon_pose`)."""

    yaw: float  # degrees, clamped; + = face turned to the viewer's right
    pitch: float  # degrees, clamped; + = chin up
    roll: float  # degrees, clamped; + = head tilted toward the viewer's right
    shift_x: float  # design units, + = viewer's right
    shift_y: float  # design units, + = down
    scale: float
    left_eye: EyeShape  # the avatar's left (viewer's right)
    right_eye: EyeShape
    left_brow: BrowShape
    right_brow: BrowShape
    mouth: MouthShape
    jaw_drop: float  # chin lowering, design units
    cheek_puff: float  # 0..1
    blush: float  # blush opacity factor 0.6..1 (rises with smiles, cheek squints and puffs)
    sneer: float  # 0..1


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _eye(b: dict[str, float], side: str) -> EyeShape:
    blink, squint, wide = b["EyeBlink" + side], b["EyeSquint" + side], b["EyeWide" + side]
    look_in, look_out = b["EyeLookIn" + side], b["EyeLookOut" + side]
    up, down = b["EyeLookUp" + side], b["EyeLookDown" + side]
    cheek = b["CheekSquint" + side]
    # a closed eye is a lash line sagging below the corners; with a cheek squint (a laugh) it arches up
    closed_at = EYE_H * (0.42 - 0.8 * cheek)
    open_upper = -1.333 * EYE_H * (1.0 + 0.22 * wide - 0.2 * squint - 0.12 * down + 0.06 * up)
    rest_lower = 1.07 * EYE_H * (1.0 - 0.3 * squint - 0.22 * cheek)  # >= 0.5 * EYE_H > closed_at
    upper = open_upper + (closed_at - open_upper) * blink
    lower = rest_lower + (closed_at - rest_lower) * blink * blink
    return EyeShape(
        upper=min(upper, lower),
        lower=lower,
        gaze_x=(look_out - look_in) * 0.42 * EYE_W,
        gaze_y=(down - up) * 0.3 * EYE_H,
        iris=1.0 - 0.12 * wide,
    )


def _brow(b: dict[str, float], side: str) -> BrowShape:
    down, outer, inner = b["BrowDown" + side], b["BrowOuterUp" + side], b["BrowInnerUp"]
    inner_y = BROW_Y + 6.0 - 24.0 * inner + 15.0 * down
    outer_y = BROW_Y + 8.0 - 22.0 * outer + 5.0 * down + 4.0 * inner
    return BrowShape(
        inner_x=-0.78 * EYE_W - 5.0 * down,
        inner_y=inner_y,
        mid_y=0.5 * (inner_y + outer_y) - 13.0 - 5.0 * outer + 4.0 * down,
        outer_y=outer_y,
    )


def _mouth(b: dict[str, float]) -> MouthShape:
    jaw = b["JawOpen"]
    open_jaw = max(0.0, jaw - b["MouthClose"])
    funnel, pucker = b["MouthFunnel"], b["MouthPucker"]
    press = 0.5 * (b["MouthPressLeft"] + b["MouthPressRight"])
    roll = 0.5 * (b["MouthRollLower"] + b["MouthRollUpper"])
    lower_down = 0.5 * (b["MouthLowerDownLeft"] + b["MouthLowerDownRight"])
    upper_up = 0.5 * (b["MouthUpperUpLeft"] + b["MouthUpperUpRight"])
    smile_l, smile_r = b["MouthSmileLeft"], b["MouthSmileRight"]
    frown_l, frown_r = b["MouthFrownLeft"], b["MouthFrownRight"]
    tongue = b["TongueOut"]
    height = 100.0 * open_jaw + 16.0 * lower_down + 12.0 * upper_up + 14.0 * funnel + 10.0 * tongue
    height *= (1.0 - 0.75 * max(press, roll)) * (1.0 - 0.8 * b["CheekPuff"]) * (1.0 - 0.5 * pucker)
    height = _clip(height, 0.0, 100.0)

    def half_width(side: str) -> float:
        w = (
            1.0
            + 0.32 * b["MouthStretch" + side]
            + 0.24 * b["MouthSmile" + side]
            + 0.1 * b["MouthDimple" + side]
        )
        w += 0.08 * b["MouthPress" + side] - 0.45 * pucker - 0.32 * funnel - 0.14 * open_jaw
        return MOUTH_W * max(w, 0.3)

    def corner_y(side: str) -> float:
        return (
            -15.0 * b["MouthSmile" + side]
            + 12.0 * b["MouthFrown" + side]
            + 3.0 * b["MouthStretch" + side]
            - 3.0 * b["MouthDimple" + side]
        )

    shift = 20.0 * (b["MouthLeft"] - b["MouthRight"]) + 10.0 * (b["JawLeft"] - b["JawRight"])
    sag = 4.0 * (smile_l + smile_r) - 3.0 * (frown_l + frown_r) - 4.0 * b["MouthShrugUpper"]
    right_x, left_x = shift - half_width("Right"), shift + half_width("Left")
    upper_x = 0.5 * (right_x + left_x)
    return MouthShape(
        right_x=right_x,
        right_y=corner_y("Right"),
        left_x=left_x,
        left_y=corner_y("Left"),
        upper_x=upper_x,
        upper_y=sag - 0.2 * height - 3.0 * b["MouthShrugLower"],
        lower_x=upper_x + 8.0 * (b["JawLeft"] - b["JawRight"]),
        lower_y=sag + 0.8 * height - 3.0 * b["MouthShrugLower"],
        roundness=_clip(0.12 + 0.75 * funnel + 0.6 * pucker + 0.35 * open_jaw, 0.0, 1.0),
        tongue=tongue,
        pucker=pucker,
    )


def cartoon_pose(frame: np.ndarray) -> CartoonPose:
    """One ARKit frame (58,) -> the avatar's shape parameters, every input clamped to a sane range.

    Pure: the same frame always gives the same pose. Blendshapes are clamped to 0..1, angles to
    +-45 degrees, translation to +-6 cm and HeadZ to +-8 cm; NaN counts as 0 (``render`` rejects it).
    """
    values = np.nan_to_num(np.asarray(frame, dtype=np.float64).reshape(-1), nan=0.0).tolist()  # (58,)
    b = {
        name: _clip(v, 0.0, 1.0) for name, v in zip(ARKIT_BLENDSHAPES, values[:NUM_BLENDSHAPES], strict=True)
    }
    head = {
        name: values[INDEX[name]] for name in ("HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ")
    }
    smile = 0.5 * (b["MouthSmileLeft"] + b["MouthSmileRight"])
    squint = 0.5 * (b["CheekSquintLeft"] + b["CheekSquintRight"])
    return CartoonPose(
        yaw=_clip(head["HeadYaw"], -MAX_ANGLE, MAX_ANGLE),
        pitch=_clip(head["HeadPitch"], -MAX_ANGLE, MAX_ANGLE),
        roll=_clip(head["HeadRoll"], -MAX_ANGLE, MAX_ANGLE),
        shift_x=CM * _clip(head["HeadX"], -MAX_SHIFT_CM, MAX_SHIFT_CM),
        shift_y=-CM * _clip(head["HeadY"], -MAX_SHIFT_CM, MAX_SHIFT_CM),
        scale=1.0 + Z_SCALE * _clip(head["HeadZ"], -MAX_Z_CM, MAX_Z_CM),
        left_eye=_eye(b, "Left"),
        right_eye=_eye(b, "Right"),
        left_brow=_brow(b, "Left"),
        right_brow=_brow(b, "Right"),
        mouth=_mouth(b),
        jaw_drop=22.0 * b["JawOpen"],
        cheek_puff=b["CheekPuff"],
        blush=0.6 + 0.4 * max(smile, squint, b["CheekPuff"]),
        sneer=0.5 * (b["NoseSneerLeft"] + b["NoseSneerRight"]),
    )


# ---------------------------------------------------------------------------------------- colours
def hex_rgb(value: str) -> RGB:
    """'#RRGGBB' -> (r, g, b)."""
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear mix of two colours, rounded half up (the JS port rounds the same way)."""
    return (
        math.floor(a[0] + (b[0] - a[0]) * t + 0.5),
        math.floor(a[1] + (b[1] - a[1]) * t + 0.5),
        math.floor(a[2] + (b[2] - a[2]) * t + 0.5),
    )


WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def palette(config: CartoonConfig) -> dict[str, RGB]:
    """The named colours the painter uses, derived from the config's few colours."""
    skin, hair, eyes = hex_rgb(config.skin), hex_rgb(config.hair), hex_rgb(config.eyes)
    shirt, mouth, line = hex_rgb(config.shirt), hex_rgb(config.mouth), hex_rgb(config.outline_color)
    return {
        "skin": skin,
        "skin_shade": mix(skin, (214, 120, 130), 0.3),
        "skin_line": mix(skin, (150, 70, 80), 0.5),
        "hair": hair,
        "hair_light": mix(hair, WHITE, 0.25),
        "hair_back": mix(hair, BLACK, 0.22),
        "hair_shine": mix(hair, WHITE, 0.55),
        "brow": mix(hair, BLACK, 0.35),
        "lash": mix(mix(hair, line, 0.5), BLACK, 0.45),
        "eyes": eyes,
        "iris_dark": mix(eyes, BLACK, 0.5),
        "iris_light": mix(eyes, WHITE, 0.4),
        "pupil": mix(eyes, BLACK, 0.78),
        "sclera": (255, 255, 255),
        "shirt": shirt,
        "shirt_light": mix(shirt, WHITE, 0.35),
        "shirt_dark": mix(shirt, BLACK, 0.18),
        "mouth": mouth,
        "mouth_inside": mix(mouth, BLACK, 0.6),
        "mouth_line": mix(mouth, BLACK, 0.45),
        "tongue": mix(mouth, WHITE, 0.3),
        "teeth": (255, 253, 250),
        "blush": (255, 118, 128),
        "line": line,
    }


def argb(rgb: RGB, alpha: float = 1.0) -> int:
    """(r, g, b) and opacity 0..1 -> skia's 0xAARRGGBB."""
    a = math.floor(_clip(alpha, 0.0, 1.0) * 255.0 + 0.5)
    return (a << 24) | (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


# ------------------------------------------------------------------------------------- projection
class _View:
    """Face coordinates -> head coordinates for one yaw / pitch (see the module docstring)."""

    __slots__ = ("cp", "cy", "hx", "hy", "sp", "sy")

    def __init__(self, yaw: float, pitch: float) -> None:
        y, p = math.radians(YAW_GAIN * yaw), math.radians(PITCH_GAIN * pitch)
        self.sy, self.cy, self.sp, self.cp = math.sin(y), math.cos(y), math.sin(p), math.cos(p)
        self.hx, self.hy = HEAD_SHIFT * self.sy, -12.0 * self.sp

    def feat(self, u: float, v: float, lift: float = 0.0) -> Point:
        """A point on the face front (eyes, nose, mouth, fringe); ``lift`` raises it off the surface."""
        z = FACE_DEPTH * (1.0 - (u / FACE_CURVE) ** 2) + lift
        x = u * self.cy + z * self.sy
        depth = z * self.cy - u * self.sy
        return x + self.hx, v * self.cp - depth * self.sp + self.hy

    def feat_scale(self, u: float) -> Point:
        """Local (sx, sy) stretch of the face front at ``u``: foreshortening of eyes and cheeks."""
        sx = self.cy - 2.0 * FACE_DEPTH * u / (FACE_CURVE * FACE_CURVE) * self.sy
        return max(sx, 0.3), self.cp

    def sil(self, u: float, v: float, fwd: float = 0.0) -> Point:
        """A silhouette point (a sphere-like outline); ``fwd`` (chin 1, ears < 0) turns with the face."""
        far = u * self.sy > 0.0
        gx = 1.0 - 0.05 * abs(self.sy) if far else 1.0
        x = u * gx + fwd * CHIN_DEPTH * self.sy + self.hx
        y = v * (1.0 - 0.06 * abs(self.sp)) - fwd * CHIN_DEPTH * self.sp + self.hy
        return x, y


def _head_point(pose: CartoonPose, u: float, v: float) -> Point:
    """A point in head coordinates (face coordinates before the yaw / pitch projection) -> design units."""
    x, y = u * pose.scale, (v + HEAD_CY - PIVOT_Y) * pose.scale
    r = math.radians(pose.roll)
    cr, sr = math.cos(r), math.sin(r)
    return x * cr - y * sr + pose.shift_x, x * sr + y * cr + PIVOT_Y + pose.shift_y


# ------------------------------------------------------------------------------------------ paths
class _PathBuilder:
    """A skia path fed with already-mapped points (mirrors the JS port's path helpers)."""

    __slots__ = ("path",)

    def __init__(self) -> None:
        self.path = skia.Path()

    def move(self, p: Point) -> _PathBuilder:
        self.path.moveTo(p[0], p[1])
        return self

    def line(self, p: Point) -> _PathBuilder:
        self.path.lineTo(p[0], p[1])
        return self

    def quad(self, c: Point, p: Point) -> _PathBuilder:
        self.path.quadTo(c[0], c[1], p[0], p[1])
        return self

    def cubic(self, c1: Point, c2: Point, p: Point) -> _PathBuilder:
        self.path.cubicTo(c1[0], c1[1], c2[0], c2[1], p[0], p[1])
        return self

    def close(self) -> skia.Path:
        self.path.close()
        return self.path

    def done(self) -> skia.Path:
        return self.path


def _oval(cx: float, cy: float, rx: float, ry: float) -> skia.Path:
    path = skia.Path()
    path.addOval(skia.Rect.MakeLTRB(cx - rx, cy - ry, cx + rx, cy + ry))
    return path


# ------------------------------------------------------------------------------------------ shapes
# Face outline, right half (viewer's right, u > 0), from the crown to the chin: (u, v, fwd) points
# as cubic segments [c1, c2, end]; the left half mirrors it.
FACE_TOP: tuple[float, float, float] = (0.0, -268.0, 0.0)
FACE_RIGHT: tuple[tuple[tuple[float, float, float], ...], ...] = (
    ((122.0, -268.0, 0.0), (206.0, -216.0, 0.0), (216.0, -120.0, 0.0)),
    ((224.0, -50.0, 0.0), (228.0, 22.0, 0.1), (214.0, 96.0, 0.2)),
    ((200.0, 160.0, 0.45), (112.0, 232.0, 0.85), (0.0, CHIN_V, 1.0)),
)
# Back hair (a bob behind the head), right half, same format (fwd < 0: it turns away).
BACK_TOP: tuple[float, float, float] = (0.0, -314.0, 0.0)
BACK_RIGHT: tuple[tuple[tuple[float, float, float], ...], ...] = (
    ((152.0, -314.0, 0.0), (254.0, -248.0, 0.0), (262.0, -120.0, -0.1)),
    ((270.0, -10.0, -0.1), (262.0, 150.0, -0.15), (298.0, 296.0, -0.15)),
    ((262.0, 284.0, -0.15), (236.0, 270.0, -0.15), (214.0, 262.0, -0.15)),
    ((204.0, 284.0, -0.15), (180.0, 300.0, -0.15), (150.0, 310.0, -0.15)),
    ((120.0, 290.0, -0.15), (60.0, 280.0, -0.15), (0.0, 280.0, -0.15)),
)
# The fringe's locks from the viewer's right to left: notch (top) and tip (bottom) points, u and v.
FRINGE: tuple[tuple[float, float], ...] = (
    (190.0, -112.0),
    (166.0, -42.0),
    (132.0, -150.0),
    (94.0, -70.0),
    (58.0, -160.0),
    (12.0, -64.0),
    (-28.0, -156.0),
    (-80.0, -60.0),
    (-116.0, -150.0),
    (-160.0, -48.0),
    (-190.0, -112.0),
)


class _Painter:
    """Draws a :class:`CartoonPose` onto a skia canvas already scaled to design units."""

    def __init__(self, config: CartoonConfig) -> None:
        self.c = palette(config)
        self.line_width = config.outline * DESIGN / 512.0
        self.blush_strength = float(config.blush)
        self.fill = skia.Paint(AntiAlias=True, Style=skia.Paint.kFill_Style)
        self.grad = skia.Paint(AntiAlias=True, Style=skia.Paint.kFill_Style)  # fills with a shader
        self.stroke = skia.Paint(
            AntiAlias=True,
            Style=skia.Paint.kStroke_Style,
            StrokeCap=skia.Paint.kRound_Cap,
            StrokeJoin=skia.Paint.kRound_Join,
        )
        c = self.c
        # gradients in fixed local coordinates, built once
        self.neck_shader = self._linear((0.0, 170.0), (0.0, 250.0), c["skin_shade"], c["skin"])
        self.body_shader = self._linear((0.0, 300.0), (0.0, 500.0), c["shirt"], c["shirt_dark"])
        self.hair_shader = self._linear((0.0, -320.0), (0.0, -60.0), c["hair_light"], c["hair"])
        self.iris_shader = self._linear((0.0, -IRIS_RY), (0.0, IRIS_RY), c["iris_dark"], c["iris_light"])
        blush = argb(c["blush"], 1.0), argb(c["blush"], 0.0)
        self.blush_shader = skia.GradientShader.MakeRadial(skia.Point(0.0, 0.0), 1.0, list(blush))

    @staticmethod
    def _linear(p0: Point, p1: Point, c0: RGB, c1: RGB) -> skia.Shader:
        return skia.GradientShader.MakeLinear([skia.Point(*p0), skia.Point(*p1)], [argb(c0), argb(c1)])

    # -- primitives
    def _fill(self, canvas: skia.Canvas, path: skia.Path, rgb: RGB, alpha: float = 1.0) -> None:
        self.fill.setColor(argb(rgb, alpha))
        canvas.drawPath(path, self.fill)

    def _shade(self, canvas: skia.Canvas, path: skia.Path, shader: skia.Shader, alpha: float = 1.0) -> None:
        self.grad.setShader(shader)
        self.grad.setAlphaf(alpha)
        canvas.drawPath(path, self.grad)

    def _line(self, canvas: skia.Canvas, path: skia.Path, rgb: RGB, width: float, alpha: float = 1.0) -> None:
        if width <= 0.0:
            return
        self.stroke.setColor(argb(rgb, alpha))
        self.stroke.setStrokeWidth(width)
        canvas.drawPath(path, self.stroke)

    def _outline(self, canvas: skia.Canvas, path: skia.Path) -> None:
        self._line(canvas, path, self.c["line"], self.line_width)

    # -- the whole avatar
    def draw(self, canvas: skia.Canvas, pose: CartoonPose) -> None:
        view = _View(pose.yaw, pose.pitch)
        canvas.save()
        self._head_transform(canvas, pose)
        self._back_hair(canvas, view)
        canvas.restore()
        self._body(canvas, pose)
        canvas.save()
        self._head_transform(canvas, pose)
        self._ears(canvas, view)
        face = self._face_path(view, pose)
        self._fill(canvas, face, self.c["skin"])
        front = self._front_hair_path(view)
        canvas.save()
        canvas.clipPath(face, skia.ClipOp.kIntersect, True)
        self._face_shading(canvas, view, pose, front)
        self._nose(canvas, view, pose)
        self._mouth(canvas, view, pose.mouth)
        self._eye(canvas, view, pose.left_eye, 1.0)
        self._eye(canvas, view, pose.right_eye, -1.0)
        canvas.restore()
        self._outline(canvas, face)
        self._front_hair(canvas, view, front)
        canvas.save()
        canvas.clipPath(face, skia.ClipOp.kIntersect, True)
        self._brow(canvas, view, pose.left_brow, 1.0)
        self._brow(canvas, view, pose.right_brow, -1.0)
        canvas.restore()
        canvas.restore()

    @staticmethod
    def _head_transform(canvas: skia.Canvas, pose: CartoonPose) -> None:
        # head coordinates -> design units: tilt and scale about the neck, then move (= _head_point)
        canvas.translate(pose.shift_x, PIVOT_Y + pose.shift_y)
        canvas.rotate(pose.roll)
        canvas.scale(pose.scale, pose.scale)
        canvas.translate(0.0, HEAD_CY - PIVOT_Y)

    # -- body
    def _body(self, canvas: skia.Canvas, pose: CartoonPose) -> None:
        def head(u: float, v: float) -> Point:  # a head-coordinate point -> design units
            return _head_point(pose, u, v)

        neck = (  # its top follows the head (hidden under the jaw), its base stays in the shirt
            _PathBuilder()
            .move(head(-58.0, 180.0))
            .line(head(58.0, 180.0))
            .cubic(head(58.0, 262.0), (64.0, 300.0), (76.0, 420.0))
            .line((-76.0, 420.0))
            .cubic((-64.0, 300.0), head(-58.0, 262.0), head(-58.0, 180.0))
            .close()
        )
        self._shade(canvas, neck, self.neck_shader)
        self._outline(canvas, neck)
        body = (
            _PathBuilder()
            .move((-68.0, 300.0))
            .cubic((-120.0, 326.0), (-250.0, 332.0), (-330.0, 374.0))
            .cubic((-400.0, 410.0), (-430.0, 470.0), (-440.0, 540.0))
            .line((440.0, 540.0))
            .cubic((430.0, 470.0), (400.0, 410.0), (330.0, 374.0))
            .cubic((250.0, 332.0), (120.0, 326.0), (68.0, 300.0))
            .quad((0.0, 410.0), (-68.0, 300.0))
            .close()
        )
        self._shade(canvas, body, self.body_shader)
        collar = _PathBuilder().move((-70.0, 300.0)).quad((0.0, 412.0), (70.0, 300.0)).done()
        self._line(canvas, collar, self.c["shirt_light"], 14.0)
        self._outline(canvas, body)
        for sign in (1.0, -1.0):  # sleeve seams
            fold = (
                _PathBuilder().move((sign * 250.0, 420.0)).quad((sign * 262.0, 470.0), (sign * 258.0, 520.0))
            )
            self._line(canvas, fold.done(), self.c["shirt_dark"], 5.0)

    # -- head parts
    @staticmethod
    def _outline_path(
        view: _View,
        top: tuple[float, float, float],
        right: tuple[tuple[tuple[float, float, float], ...], ...],
        dv: tuple[float, ...] = (),
        du: tuple[float, ...] = (),
    ) -> skia.Path:
        """A closed left-right symmetric outline: ``right`` then its mirror back up to ``top``.

        ``dv``/``du`` optionally move each segment's points down / outward (jaw drop, cheek puff).
        """

        # points in drawing order: top, then (c1, c2, end) per segment; offsets index the latter
        pts = [top] + [p for seg in right for p in seg]

        def pt(i: int, sign: float) -> Point:
            u, v, fwd = pts[i]
            if i > 0:
                u, v = u + (du[i - 1] if du else 0.0), v + (dv[i - 1] if dv else 0.0)
            return view.sil(sign * u, v, fwd)

        pb = _PathBuilder().move(pt(0, 1.0))
        for k in range(len(right)):  # down the right side
            pb.cubic(pt(3 * k + 1, 1.0), pt(3 * k + 2, 1.0), pt(3 * k + 3, 1.0))
        for k in range(len(right) - 1, -1, -1):  # and back up the mirrored left side
            pb.cubic(pt(3 * k + 2, -1.0), pt(3 * k + 1, -1.0), pt(3 * k, -1.0))
        return pb.close()

    def _face_path(self, view: _View, pose: CartoonPose) -> skia.Path:
        j, p = pose.jaw_drop, pose.cheek_puff
        dv = (0.0, 0.0, 0.0, 0.0, 0.1 * j, 0.25 * j, 0.5 * j, 0.85 * j, j)
        du = (0.0, 0.0, 0.0, 0.0, 6.0 * p, 14.0 * p, 18.0 * p, 8.0 * p, 0.0)
        return self._outline_path(view, FACE_TOP, FACE_RIGHT, dv, du)

    def _back_hair(self, canvas: skia.Canvas, view: _View) -> None:
        path = self._outline_path(view, BACK_TOP, BACK_RIGHT)
        self._fill(canvas, path, self.c["hair_back"])
        self._outline(canvas, path)

    def _ears(self, canvas: skia.Canvas, view: _View) -> None:
        for sign in (1.0, -1.0):
            s = view.sil
            ear = (
                _PathBuilder()
                .move(s(sign * 200.0, 8.0, -0.3))
                .cubic(
                    s(sign * 236.0, -14.0, -0.35), s(sign * 262.0, 20.0, -0.35), s(sign * 252.0, 58.0, -0.35)
                )
                .cubic(
                    s(sign * 244.0, 92.0, -0.35), s(sign * 222.0, 112.0, -0.3), s(sign * 204.0, 102.0, -0.3)
                )
                .close()
            )
            self._fill(canvas, ear, self.c["skin"])
            self._outline(canvas, ear)
            inner = (
                _PathBuilder()
                .move(s(sign * 214.0, 30.0, -0.3))
                .quad(s(sign * 244.0, 24.0, -0.35), s(sign * 234.0, 66.0, -0.35))
                .done()
            )
            self._line(canvas, inner, self.c["skin_line"], 5.0)

    def _front_hair_path(self, view: _View) -> skia.Path:
        s, f = view.sil, view.feat
        pb = (
            _PathBuilder()
            .move(s(-214.0, 182.0, 0.1))
            .quad(s(-246.0, 40.0, 0.0), s(-238.0, -110.0, 0.0))
            .cubic(s(-238.0, -254.0, 0.0), s(-132.0, -326.0, 0.0), s(0.0, -326.0, 0.0))
            .cubic(s(132.0, -326.0, 0.0), s(238.0, -254.0, 0.0), s(238.0, -110.0, 0.0))
            .quad(s(246.0, 40.0, 0.0), s(214.0, 182.0, 0.1))
            .quad(s(192.0, 60.0, 0.15), f(FRINGE[0][0], FRINGE[0][1], -30.0))
        )
        # each lock: notch -> tip bulging toward the viewer's left, tip -> next notch straighter
        for i in range(1, len(FRINGE), 2):
            (nu, nv), (tu, tv), (mu, mv) = FRINGE[i - 1], FRINGE[i], FRINGE[i + 1]
            pb.quad(f(nu + 2.0, 0.35 * nv + 0.65 * tv), f(tu, tv, -10.0))
            pb.quad(f(0.5 * (tu + mu) - 14.0, 0.5 * (tv + mv) + 4.0), f(mu, mv, -30.0))
        pb.quad(s(-192.0, 60.0, 0.15), s(-214.0, 182.0, 0.1))
        return pb.close()

    def _front_hair(self, canvas: skia.Canvas, view: _View, path: skia.Path) -> None:
        s = view.sil
        ahoge = (  # the stray strand on top, its root hidden under the cap
            _PathBuilder()
            .move(s(-8.0, -300.0))
            .cubic(s(-14.0, -372.0), s(44.0, -398.0), s(78.0, -374.0))
            .cubic(s(38.0, -380.0), s(20.0, -350.0), s(22.0, -300.0))
            .close()
        )
        self._fill(canvas, ahoge, self.c["hair"])
        self._outline(canvas, ahoge)
        self._shade(canvas, path, self.hair_shader)
        canvas.save()
        canvas.clipPath(path, skia.ClipOp.kIntersect, True)
        shine = (
            _PathBuilder()
            .move(s(-170.0, -208.0))
            .quad(s(0.0, -300.0), s(170.0, -208.0))
            .line(s(150.0, -188.0))
            .quad(s(0.0, -266.0), s(-150.0, -188.0))
            .close()
        )
        self._fill(canvas, shine, self.c["hair_shine"], 0.55)
        for sign in (1.0, -1.0):  # strands along the side locks
            strand = (
                _PathBuilder()
                .move(s(sign * 222.0, -60.0))
                .quad(s(sign * 226.0, 60.0), s(sign * 212.0, 150.0))
            )
            self._line(canvas, strand.done(), self.c["hair_back"], 4.0, 0.35)
        for i in range(2, len(FRINGE) - 2, 2):  # strands from the crown into the fringe's notches
            nu, nv = FRINGE[i]
            strand = (
                _PathBuilder()
                .move(s(0.45 * nu, -290.0))
                .quad(s(0.8 * nu, -230.0), view.feat(nu, nv - 6.0, -30.0))
            )
            self._line(canvas, strand.done(), self.c["hair_back"], 3.5, 0.3)
        canvas.restore()
        self._outline(canvas, path)

    def _face_shading(self, canvas: skia.Canvas, view: _View, pose: CartoonPose, front: skia.Path) -> None:
        canvas.save()  # the fringe's shadow on the forehead
        canvas.translate(0.0, 16.0)
        self._fill(canvas, front, self.c["skin_shade"], 0.75)
        canvas.restore()
        alpha = self.blush_strength * pose.blush
        if alpha <= 0.0:
            return
        lift = 8.0 * max(0.0, pose.blush - 0.6) / 0.4  # cheeks rise with a smile
        for sign in (1.0, -1.0):
            u = sign * (BLUSH_X + 6.0 * pose.cheek_puff)
            x, y = view.feat(u, BLUSH_Y - lift)
            sx, sy = view.feat_scale(u)
            canvas.save()
            canvas.translate(x, y)
            canvas.scale(sx * (44.0 + 8.0 * pose.cheek_puff), sy * 22.0)
            self.grad.setShader(self.blush_shader)
            self.grad.setAlphaf(0.75 * alpha)
            canvas.drawOval(skia.Rect.MakeLTRB(-1.0, -1.0, 1.0, 1.0), self.grad)
            canvas.restore()
            for k in (-1.0, 0.0, 1.0):  # three little hatch strokes
                hatch = _PathBuilder().move(view.feat(u + k * 14.0 + 5.0, BLUSH_Y - lift - 7.0))
                hatch.line(view.feat(u + k * 14.0 - 5.0, BLUSH_Y - lift + 7.0))
                self._line(canvas, hatch.done(), self.c["blush"], 3.0, 0.8 * alpha)

    def _nose(self, canvas: skia.Canvas, view: _View, pose: CartoonPose) -> None:
        up = 5.0 * pose.sneer
        w = 7.0 + 3.0 * pose.sneer
        f = view.feat
        nose = (
            _PathBuilder()
            .move(f(-w, NOSE_Y - up, 14.0))
            .quad(f(0.0, NOSE_Y + 6.0 - up, 16.0), f(w, NOSE_Y - up, 14.0))
        )
        self._line(canvas, nose.done(), self.c["skin_line"], 4.0, 0.85)
        if pose.sneer > 0.0:
            for sign in (1.0, -1.0):
                wrinkle = _PathBuilder().move(f(sign * 14.0, NOSE_Y - 30.0, 10.0))
                wrinkle.quad(f(sign * 20.0, NOSE_Y - 22.0, 10.0), f(sign * 16.0, NOSE_Y - 12.0, 10.0))
                self._line(canvas, wrinkle.done(), self.c["skin_line"], 3.0, 0.7 * pose.sneer)

    def _mouth(self, canvas: skia.Canvas, view: _View, m: MouthShape) -> None:
        def f(x: float, y: float) -> Point:
            return view.feat(x, MOUTH_Y + y, 6.0)

        r = m.roundness
        a, b = m.upper_x - m.right_x, m.left_x - m.upper_x  # half-widths left / right of the middle
        al, bl = m.lower_x - m.right_x, m.left_x - m.lower_x
        k = 0.552 * r + 0.3 * (1.0 - r)  # how far the corner handles run toward the lip's height
        h = 0.55 * (1.0 - r)  # and toward the middle
        opening = (
            _PathBuilder()
            .move(f(m.right_x, m.right_y))
            .cubic(
                f(m.right_x + a * h, m.right_y + (m.upper_y - m.right_y) * k),
                f(m.upper_x - a * 0.552, m.upper_y),
                f(m.upper_x, m.upper_y),
            )
            .cubic(
                f(m.upper_x + b * 0.552, m.upper_y),
                f(m.left_x - b * h, m.left_y + (m.upper_y - m.left_y) * k),
                f(m.left_x, m.left_y),
            )
            .cubic(
                f(m.left_x - bl * h, m.left_y + (m.lower_y - m.left_y) * k),
                f(m.lower_x + bl * 0.552, m.lower_y),
                f(m.lower_x, m.lower_y),
            )
            .cubic(
                f(m.lower_x - al * 0.552, m.lower_y),
                f(m.right_x + al * h, m.right_y + (m.lower_y - m.right_y) * k),
                f(m.right_x, m.right_y),
            )
            .close()
        )
        gap = m.lower_y - m.upper_y
        width = m.left_x - m.right_x
        if m.pucker > 0.0:  # pursed lips
            x, y = f(m.upper_x, 0.5 * (m.upper_y + m.lower_y))
            sx, sy = view.feat_scale(m.upper_x)
            lips = _oval(x, y, sx * (0.5 * width + 9.0), sy * (0.5 * gap + 12.0))
            self._fill(canvas, lips, self.c["mouth"], 0.85 * m.pucker)
        if gap > 0.5:
            self._fill(canvas, opening, self.c["mouth_inside"])
            canvas.save()
            canvas.clipPath(opening, skia.ClipOp.kIntersect, True)
            t = min(0.3 * gap, 13.0)
            teeth = (
                _PathBuilder()
                .move(f(m.right_x, m.upper_y - 20.0))
                .line(f(m.left_x, m.upper_y - 20.0))
                .line(f(m.left_x, m.upper_y + t))
                .quad(f(m.upper_x, m.upper_y + t + 4.0), f(m.right_x, m.upper_y + t))
                .close()
            )
            self._fill(canvas, teeth, self.c["teeth"])
            x, y = f(m.lower_x, m.lower_y + 2.0)
            sx, sy = view.feat_scale(m.lower_x)
            self._fill(canvas, _oval(x, y, sx * 0.36 * width, sy * (6.0 + 0.3 * gap)), self.c["tongue"])
            canvas.restore()
        self._line(canvas, opening, self.c["mouth_line"], 5.0)
        if m.tongue > 0.0:
            tw, tl = 0.3 * width, 34.0 * m.tongue
            tongue = (
                _PathBuilder()
                .move(f(m.lower_x - tw, m.lower_y - 3.0))
                .cubic(
                    f(m.lower_x - tw, m.lower_y + tl),
                    f(m.lower_x + tw, m.lower_y + tl),
                    f(m.lower_x + tw, m.lower_y - 3.0),
                )
                .close()
            )
            self._fill(canvas, tongue, self.c["tongue"])
            self._line(canvas, tongue, self.c["mouth_line"], 3.0)
        if gap <= 0.5 or m.lower_y < 30.0:  # a hint of the lower lip below a closed or small mouth
            lip = (
                _PathBuilder()
                .move(f(m.lower_x - 10.0, m.lower_y + 13.0))
                .quad(f(m.lower_x, m.lower_y + 16.0), f(m.lower_x + 10.0, m.lower_y + 13.0))
            )
            self._line(canvas, lip.done(), self.c["skin_shade"], 4.0, 0.8)

    def _eye(self, canvas: skia.Canvas, view: _View, e: EyeShape, side: float) -> None:
        """side = +1 for the avatar's left eye (viewer's right), -1 for its right eye."""
        x, y = view.feat(side * EYE_X, EYE_Y)
        sx, sy = view.feat_scale(side * EYE_X)
        canvas.save()
        canvas.translate(x, y)
        canvas.scale(side * sx, sy)  # local +x = toward the outer corner
        w, up, lo = EYE_W, e.upper, e.lower
        ix, iy, ox, oy = -w, 3.0, w, -2.0  # inner and outer corners
        sclera = (
            _PathBuilder()
            .move((ix, iy))
            .cubic((-0.55 * w, up), (0.55 * w, up), (ox, oy))
            .cubic((0.6 * w, lo), (-0.6 * w, lo), (ix, iy))
            .close()
        )
        if lo - up > 0.5:
            self._fill(canvas, sclera, self.c["sclera"])
            canvas.save()
            canvas.clipPath(sclera, skia.ClipOp.kIntersect, True)
            canvas.save()
            canvas.translate(e.gaze_x, e.gaze_y + 4.0)
            canvas.scale(e.iris, e.iris)
            iris = _oval(0.0, 0.0, IRIS_RX, IRIS_RY)
            self._shade(canvas, iris, self.iris_shader)
            self._line(canvas, iris, self.c["iris_dark"], 3.0)
            self._fill(canvas, _oval(0.0, 3.0, 12.0, 17.0), self.c["pupil"])
            hx = -side * 10.0  # highlights stay top-left / bottom-right as seen by the viewer
            self._fill(canvas, _oval(hx, -14.0, 9.0, 10.0), WHITE)
            self._fill(canvas, _oval(-hx * 1.1, 16.0, 4.5, 4.5), WHITE, 0.9)
            canvas.restore()
            shadow = (
                _PathBuilder()
                .move((ix, iy))
                .cubic((-0.55 * w, up), (0.55 * w, up), (ox, oy))
                .cubic((0.55 * w, up + 16.0), (-0.55 * w, up + 16.0), (ix, iy))
                .close()
            )
            self._fill(canvas, shadow, self.c["iris_dark"], 0.22)
            canvas.restore()
            lower = _PathBuilder().move((0.15 * w, 0.72 * lo)).quad((0.75 * w, 0.62 * lo), (ox, oy + 2.0))
            self._line(canvas, lower.done(), self.c["lash"], 2.5, 0.55)
        lash = (
            _PathBuilder()
            .move((ix - 2.0, iy))
            .cubic((-0.55 * w, up), (0.55 * w, up), (ox, oy))
            .line((ox + 12.0, oy - 12.0))
            .cubic((0.55 * w, up - 12.0), (-0.55 * w, up - 7.0), (ix - 2.0, iy - 3.0))
            .close()
        )
        self._fill(canvas, lash, self.c["lash"])
        self._line(canvas, lash, self.c["lash"], 2.0)
        canvas.restore()

    def _brow(self, canvas: skia.Canvas, view: _View, br: BrowShape, side: float) -> None:
        x, y = view.feat(side * EYE_X, EYE_Y)
        sx, sy = view.feat_scale(side * EYE_X)
        canvas.save()
        canvas.translate(x, y)
        canvas.scale(side * sx, sy)
        ox = 0.86 * EYE_W
        brow = (
            _PathBuilder()
            .move((br.inner_x, br.inner_y - 6.0))
            .quad((0.0, br.mid_y - 6.0), (ox, br.outer_y - 2.0))
            .quad((0.0, br.mid_y + 5.0), (br.inner_x, br.inner_y + 6.0))
            .close()
        )
        self._fill(canvas, brow, self.c["brow"])
        self._line(canvas, brow, self.c["brow"], 3.0)
        canvas.restore()


# --------------------------------------------------------------------------------------- renderer
@register_renderer("cartoon")
class CartoonRenderer(Renderer):
    """A stylised anime-style bust drawn with skia; transparent background unless configured."""

    Config = CartoonConfig

    def __init__(self, config: CartoonConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        assert isinstance(cfg, CartoonConfig)
        w, h = cfg.width, cfg.height
        self._scale = min(w, h) / DESIGN  # pixels per design unit
        self._background = 0 if cfg.background.lower() == "transparent" else argb(hex_rgb(cfg.background))
        self.transparent = self._background == 0  # type: ignore[misc]  # an instance may differ from the class
        self._painter = _Painter(cfg)
        info = skia.ImageInfo.Make(w, h, skia.kRGBA_8888_ColorType, skia.kPremul_AlphaType)
        self._surface = skia.Surface.MakeRaster(info)
        if self._surface is None:  # pragma: no cover
            raise RendererError(f"cartoon: could not allocate a {w}x{h} drawing surface")
        self._read_info = skia.ImageInfo.Make(w, h, skia.kRGBA_8888_ColorType, skia.kUnpremul_AlphaType)
        log.debug(
            "cartoon renderer %dx%d, options %s", w, h, {f.name: getattr(cfg, f.name) for f in fields(cfg)}
        )

    def render(self, frame: np.ndarray) -> np.ndarray:
        """One ARKit frame (58,) -> (H, W, 4) uint8 RGBA, straight alpha."""
        arr = check_frames(frame)
        if arr.shape[0] != 1:
            raise RendererError(f"render takes one frame, got {arr.shape[0]}; use render_many")
        pose = cartoon_pose(arr[0])
        canvas = self._surface.getCanvas()
        canvas.clear(self._background)
        canvas.save()
        w, h = self.size
        canvas.translate(0.5 * w, 0.5 * h)
        canvas.scale(self._scale, self._scale)
        self._painter.draw(canvas, pose)
        canvas.restore()
        out = np.empty((h, w, 4), np.uint8)  # (H, W, 4) RGBA, fresh per frame: callers keep frames
        if not canvas.readPixels(self._read_info, out):  # pragma: no cover
            raise RendererError("cartoon: could not read the drawing back")
        return out

    def regions(self) -> dict[str, tuple[int, int, int, int]]:
        """Rest-pose pixel boxes of the face, mouth and eyes (the avatar's left eye on the viewer's right)."""

        def box(u0: float, v0: float, u1: float, v1: float) -> tuple[int, int, int, int]:
            w, h = self.size
            k = self._scale
            x0, x1 = 0.5 * w + k * u0, 0.5 * w + k * u1
            y0, y1 = 0.5 * h + k * (v0 + HEAD_CY), 0.5 * h + k * (v1 + HEAD_CY)
            return (
                max(0, math.floor(x0)),
                max(0, math.floor(y0)),
                min(w, math.ceil(x1)),
                min(h, math.ceil(y1)),
            )

        eye_top, eye_bottom = EYE_Y - EYE_H - 12.0, EYE_Y + 0.85 * EYE_H + 8.0
        return {
            "face": box(-228.0, FACE_TOP[1], 228.0, CHIN_V),
            "mouth": box(-MOUTH_W - 30.0, MOUTH_Y - 24.0, MOUTH_W + 30.0, MOUTH_Y + 70.0),
            "left_eye": box(EYE_X - EYE_W - 16.0, eye_top, EYE_X + EYE_W + 16.0, eye_bottom),
            "right_eye": box(-EYE_X - EYE_W - 16.0, eye_top, -EYE_X + EYE_W + 16.0, eye_bottom),
        }
