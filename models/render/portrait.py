"""The ``portrait`` renderer: a photo animated by ARKit motion through landmark-guided mesh warping.

Setup, once per portrait:

1. The photo (default: the bundled astronaut, ``models/samples/astronaut.jpg``) is scaled and cropped
   to fill the output, centred on the face; its MediaPipe face-mesh landmarks (a ``.npz`` file, the
   bundled one, or detected with MediaPipe: :mod:`models.render.landmarks`) come along.
2. A triangle mesh is built over the whole output: the 468 (478) landmarks joined by MediaPipe's own
   face-surface triangles (so no triangle spans the mouth or an eye, and a turned face unfolds like
   the real surface), the mouth and eye openings filled separately, and rings of control points around
   the face oval (hair, neck, background) fading to fixed points on the image border (Delaunay).
3. Every blendshape becomes a displacement field of the mesh vertices (a linear basis, 52 x M x 2),
   built from the face's own geometry and scaled by its size, so any photo works: JawOpen drops the
   lower lip, chin and jaw line (the lower face turns about the jaw hinge: points move by their depth
   in front of it), the lip channels part, widen, narrow, shift and curl the lips, EyeBlink brings the
   upper lid down to the lower lid while the lid skin above stretches down, EyeSquint/EyeWide move
   the lids, EyeLook shifts the irises, brows rise and fall, cheeks puff and rise.

Per frame: vertices = rest + coefficients @ basis, then head rotation (yaw/pitch about a pivot
inside the head, roll about the neck; 3D with MediaPipe's depth, orthographic) and translation,
with an influence that fades over the outer rings and the neck. The photo is copied, then the
triangles that moved are drawn over it back to front as a textured mesh (skia ``drawVertices``).
When the lips part beyond the photo's own opening, the mouth cavity is drawn inside the target
inner-lip contour (anti-aliased clip: dark shading, tongue, upper teeth), and the photo's own mouth
interior (e.g. the teeth of a smile) is drawn on top of it, attached to the upper lip; closing
eyelids get a soft lash line.

Output: opaque RGBA (alpha 255 everywhere). About 100+ frames per second at 512x512 on one core.

Limits: a 2D warp of one photo: the head turns convincingly to about +-25 degrees (the hidden side of
the face cannot be shown; the far side compresses, the near side stretches), glasses and hair bend
with the face, and the drawn mouth interior (cavity, tongue, teeth) is generic.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skia
from scipy.spatial import Delaunay

from models.motion.arkit import INDEX, NUM_BLENDSHAPES
from models.render.base import RenderConfig, Renderer, RendererError, check_frames, register_renderer
from models.render.landmarks import (
    FACE_MESH_TRIANGLES,
    check_landmarks,
    detect_landmarks,
    load_landmarks,
    read_image_rgb,
)

log = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEFAULT_IMAGE = SAMPLES / "astronaut.jpg"
DEFAULT_LANDMARKS = SAMPLES / "astronaut_landmarks.npz"

# --- MediaPipe face-mesh topology (subject's own left/right; "left" = the viewer's right) -----------
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_LIP = (
    185, 40, 39, 37, 0, 267, 269, 270, 409, 184, 74, 73, 72, 11, 302, 303, 304, 408,
    183, 42, 41, 38, 12, 268, 271, 272, 407, 191, 80, 81, 82, 13, 312, 311, 310, 415,
)  # fmt: skip
LOWER_LIP = (
    146, 91, 181, 84, 17, 314, 405, 321, 375, 77, 90, 180, 85, 16, 315, 404, 320, 307,
    96, 89, 179, 86, 15, 316, 403, 319, 325, 95, 88, 178, 87, 14, 317, 402, 318, 324,
)  # fmt: skip
MOUTH_CORNERS_RIGHT = (61, 76, 62, 78)  # subject's right corner (viewer's left)
MOUTH_CORNERS_LEFT = (291, 306, 292, 308)
# The inner-lip contour as a closed ring: upper lip left to right, then the lower lip back.
INNER_RING = LIPS_UPPER_INNER + LIPS_LOWER_INNER[-2:0:-1]
# Each inner-ring point's partner on the upper inner lip (the mouth interior moves with it).
UPPER_PARTNER = dict(zip(LIPS_LOWER_INNER, LIPS_UPPER_INNER, strict=True)) | {i: i for i in LIPS_UPPER_INNER}

EYE_RIGHT_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_RIGHT_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_LEFT_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
EYE_LEFT_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
EYE_RIGHT_CREASE = (247, 30, 29, 27, 28, 56, 190)
EYE_LEFT_CREASE = (467, 260, 259, 257, 258, 286, 414)
EYE_RIGHT_CHEEK = (117, 118, 119, 100, 101)
EYE_LEFT_CHEEK = (346, 347, 348, 329, 330)
IRIS_RIGHT = (468, 469, 470, 471, 472)
IRIS_LEFT = (473, 474, 475, 476, 477)
BROW_RIGHT_INNER = (107, 66, 55, 65, 52, 193)
BROW_RIGHT_OUTER = (70, 63, 46, 156, 35, 124)
BROW_LEFT_INNER = (336, 296, 285, 295, 282, 417)
BROW_LEFT_OUTER = (300, 293, 276, 383, 265, 353)
NOSE_WING_RIGHT, NOSE_WING_LEFT = 129, 358
CHEEK_RIGHT, CHEEK_LEFT = 205, 425
FOREHEAD, CHIN, SIDE_RIGHT, SIDE_LEFT = 10, 152, 234, 454

# --- control rings around the face oval: (scale about the oval centre, head influence, jaw influence,
# depth share: a ring point's depth in front of the head pivot, as a share of its oval point's)
RINGS: tuple[tuple[float, float, float, float], ...] = (
    (1.1, 1.0, 0.8, 0.85),
    (1.3, 1.0, 0.5, 0.6),
    (1.6, 0.75, 0.2, 0.3),
    (2.05, 0.4, 0.05, 0.1),
    (2.7, 0.0, 0.0, 0.0),
)
BORDER_STEPS = 8  # fixed points per image edge

# --- motion amplitudes, in face heights (forehead landmark to chin) unless noted
JAW_DROP = 0.17  # JawOpen 1: chin / lower-lip drop
CORNER_SHARE = 0.3  # mouth corners follow the jaw this much
FRAME_FACE = 0.36  # the face height's share of the output height when the photo is larger
FACE_Y = 0.41  # the face centre's height in the output (share of the height)
HAIR = 0.5  # the head's top above the forehead landmark (face heights), kept in the frame if it can be
MAX_YAW, MAX_PITCH, MAX_ROLL = 40.0, 30.0, 40.0  # degrees, after head_gain
MAX_SHIFT_CM, MAX_DEPTH_CM = 15.0, 20.0
EYE_CORNER_CM = 9.0  # outer eye corner to outer eye corner, sets pixels per cm for HeadX/Y/Z
CAMERA_CM = 50.0  # assumed camera distance: HeadZ scales the head by CAMERA_CM / (CAMERA_CM - HeadZ)

CAVITY_DARK = (38, 10, 14)
CAVITY_EDGE = (88, 32, 36)
TONGUE = (150, 70, 72)
TONGUE_DARK = (84, 32, 36)
TEETH = (222, 215, 202)
TEETH_SHADE = (120, 104, 98)
TEETH_HEIGHT = 0.032  # face heights, drawn upper teeth in the middle
LASH = (58, 40, 34)
LID_SKIN_ALPHA = 0.7  # how far a closed lid's stretched skin is evened out to the skin's colour


@dataclass(frozen=True)
class PortraitConfig(RenderConfig):
    """Options of the portrait renderer.

    image: a photo (JPEG/PNG/WebP) with one face; None = the bundled astronaut portrait.
    landmarks: its face-mesh landmarks (.npz from ``avatar-forcing landmarks PHOTO --out FILE.npz``);
        None = the bundled ones for the default photo, else detected with MediaPipe (webcam extra).
    head_gain: scales head rotation and translation; expression_gain: scales the blendshapes.
    """

    image: str | None = None
    landmarks: str | None = None
    head_gain: float = 1.0
    expression_gain: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("head_gain", "expression_gain"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 3.0:
                raise RendererError(f"{key} must be a number in 0..3, got {value!r}")
        for key in ("image", "landmarks"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise RendererError(f"{key} must be a file path or None, got {value!r}")


# ------------------------------------------------------------------------------------------- helpers
def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (x / sigma) ** 2)


def _curve(u: np.ndarray, v: np.ndarray, idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Points ``idx`` of a contour sorted by u: (us, vs) for np.interp."""
    order = np.argsort(u[list(idx)], kind="stable")
    return u[list(idx)][order], v[list(idx)][order]


def _point_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(K, 2) points, (P, 2) polygon -> (K,) bool (even-odd rule)."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (y0 > y) != (y1 > y)
        xint = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (cross & (x < xint)).sum(axis=1) % 2 == 1


def _smooth_depth(points: np.ndarray, depth: np.ndarray, oval: np.ndarray, face_h: float) -> np.ndarray:
    """Landmark depths for turning the head: a smooth quadratic fit of the face plus the landmarks'
    own detail (nose, lips, brows) inside the face, fading to the fit at the oval, where MediaPipe's
    edge-on points are noisy (their slivers would tear when the face turns).
    (N, 2) points, (N,) depths, (36, 2) oval -> (N,) depths."""
    q = (points - oval.mean(0)) / face_h  # (N, 2)
    x, y = q[:, 0], q[:, 1]
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)  # (N, 6)
    coef, *_ = np.linalg.lstsq(design, depth, rcond=None)
    fit = design @ coef
    edge = np.hypot(*(points[:, None, :] - oval[None, :, :]).transpose(2, 0, 1)).min(axis=1) / face_h  # (N,)
    keep = _smoothstep(0.03, 0.15, edge)
    return fit + keep * (depth - fit)


def _areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(M, 2) points, (T, 3) triangles -> (T,) signed areas."""
    a, b, c = (points[tris[:, k]] for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _ladder(upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """Triangles between two contours that share their end points (a lens: lips, eyelids) -> (T, 3)."""
    tris = []
    for k in range(len(upper) - 1):
        a, b, c, d = upper[k], upper[k + 1], lower[k + 1], lower[k]
        if a == d:
            tris.append((a, b, c))
        elif b == c:
            tris.append((a, b, d))
        else:
            tris += [(a, b, c), (a, c, d)]
    return np.array(tris, dtype=np.int64)


def _smooth_path(points: np.ndarray, closed: bool) -> skia.Path:
    """A path through (K, 2) points, smoothed with quadratic segments between edge midpoints."""
    path = skia.Path()
    pts = [(float(x), float(y)) for x, y in points]
    if closed:
        mids = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(pts, pts[1:] + pts[:1], strict=True)]
        path.moveTo(*mids[-1])
        for p, m in zip(pts, mids, strict=True):
            path.quadTo(p[0], p[1], m[0], m[1])
        path.close()
    else:
        path.moveTo(*pts[0])
        for a, b in itertools.pairwise(pts[1:]):
            path.quadTo(a[0], a[1], (a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        path.lineTo(*pts[-1])
    return path


def _color(rgb: tuple[int, int, int], alpha: float = 1.0) -> int:
    return skia.ColorSetARGB(round(255 * min(max(alpha, 0.0), 1.0)), *rgb)


@dataclass(frozen=True)
class _Eye:
    """The landmarks one eye's lid drawing needs."""

    upper: tuple[int, ...]  # the upper lid's edge, corner to corner
    crease: tuple[int, ...]  # the ring above it
    cheek: tuple[int, ...]  # skin below the eye, for the closed lid's colour


# ---------------------------------------------------------------------------------------- renderer
@register_renderer("portrait")
class PortraitRenderer(Renderer):
    """Any photo animated by ARKit frames through landmark-guided mesh warping (opaque output)."""

    Config = PortraitConfig
    transparent = False  # the photo fills the frame: alpha is 255 everywhere

    config: PortraitConfig

    def __init__(self, config: PortraitConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        image, landmarks = _load_portrait(cfg.image, cfg.landmarks)
        self._setup_frame(image, landmarks)
        self._setup_mesh()
        self._setup_basis()
        self._setup_triangles()
        self._setup_drawing()

    # ------------------------------------------------------------------------------------ setup
    def _setup_frame(self, image: np.ndarray, lm: np.ndarray) -> None:
        """Scale/crop the photo to fill the output, centred on the face; landmarks to output pixels."""
        width, height = self.size
        ih, iw = image.shape[:2]
        face_h = float(np.linalg.norm(lm[FOREHEAD, :2] - lm[CHIN, :2]))
        if face_h < 8.0:
            raise RendererError(f"the face in the portrait is too small ({face_h:.1f} px forehead to chin)")
        oval = lm[list(FACE_OVAL), :2]
        centre = (oval.min(0) + oval.max(0)) / 2  # (2,)
        scale = max(width / iw, height / ih, FRAME_FACE * height / face_h)
        tx = width / 2 - scale * centre[0]
        ty = FACE_Y * height - scale * centre[1]
        head_top = float(lm[FOREHEAD, 1]) - HAIR * face_h  # keep the top of the head in the frame
        ty = max(ty, 0.03 * height - scale * head_top)
        tx = float(np.clip(tx, width - scale * iw, 0.0))
        ty = float(np.clip(ty, height - scale * ih, 0.0))
        rgba = np.concatenate([image, np.full((ih, iw, 1), 255, np.uint8)], axis=2)
        if abs(scale - 1.0) < 1e-9 and abs(tx) < 1e-9 and abs(ty) < 1e-9 and (iw, ih) == (width, height):
            base = np.ascontiguousarray(rgba)
        else:
            base = np.zeros((height, width, 4), np.uint8)
            src = skia.Image.fromarray(
                rgba, colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kOpaque_AlphaType
            )
            surf = skia.Surface(base, colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kPremul_AlphaType)
            with surf as canvas:
                canvas.translate(tx, ty)
                canvas.scale(scale, scale)
                sampling = (
                    skia.SamplingOptions(skia.CubicResampler.Mitchell())
                    if scale > 1
                    else (skia.SamplingOptions(skia.FilterMode.kLinear, skia.MipmapMode.kLinear))
                )
                canvas.drawImage(src, 0, 0, sampling)
            base[..., 3] = 255
        self.base = base  # (H, W, 4) uint8: the framed photo, the rest pose
        self.landmarks = lm.astype(np.float64) * scale + np.array([tx, ty, 0.0])  # (N, 3) output pixels
        self._n = len(lm)

    def _setup_mesh(self) -> None:
        """Vertices: landmarks, rings around the face oval, fixed border points; face-local coords."""
        width, height = self.size
        lm = self.landmarks
        self.face_h = float(np.linalg.norm(lm[FOREHEAD, :2] - lm[CHIN, :2]))
        ex = lm[263, :2] - lm[33, :2]
        ex = ex / max(float(np.linalg.norm(ex)), 1e-9)
        self._ex, self._ey = ex, np.array([-ex[1], ex[0]])
        self._origin = (lm[33, :2] + lm[263, :2]) / 2
        self._px_per_cm = float(np.linalg.norm(lm[263, :2] - lm[33, :2])) / EYE_CORNER_CM

        oval = lm[list(FACE_OVAL), :2]
        centre = oval.mean(0)
        side_depth = -float(lm[[SIDE_LEFT, SIDE_RIGHT], 2].mean())  # depth = toward the camera
        self._pivot_depth = side_depth - 0.05 * self.face_h
        points = [lm[:, :2]]
        raw_depth = -lm[:, 2]  # (N,) toward the camera
        depth = [_smooth_depth(lm[:, :2], raw_depth, oval, self.face_h)]
        head_w = [np.ones(self._n)]
        jaw_w = [np.zeros(self._n)]
        margin = 0.02 * min(width, height)
        spacing = float(np.linalg.norm(np.diff(oval, axis=0, append=oval[:1]), axis=1).mean())
        oval_depth = depth[0][list(FACE_OVAL)] - self._pivot_depth  # (36,) in front of the pivot
        taken = lm[:, :2].copy()  # (K, 2) points placed so far
        ring_id = [np.zeros(self._n, int)]
        for k, (factor, w_head, w_jaw, d_share) in enumerate(RINGS, start=1):
            step = 1 if factor < 1.5 else 2
            ring = centre + factor * (oval[::step] - centre)  # (R, 2)
            ring_depth = self._pivot_depth + d_share * oval_depth[::step]
            min_gap = 0.5 * spacing * factor * step
            keep = []
            for p, dp in zip(ring, ring_depth, strict=True):
                inside = margin < p[0] < width - margin and margin < p[1] < height - margin
                if inside and float(np.hypot(*(taken - p).T).min()) > min_gap:
                    keep.append((p[0], p[1], dp))
                    taken = np.vstack([taken, p])
            if not keep:
                continue
            arr = np.array(keep)
            points.append(arr[:, :2])
            depth.append(arr[:, 2])
            head_w.append(np.full(len(arr), w_head))
            jaw_w.append(np.full(len(arr), w_jaw))
            ring_id.append(np.full(len(arr), k))
        xs = np.linspace(0, width, BORDER_STEPS + 1)
        ys = np.linspace(0, height, BORDER_STEPS + 1)
        border = [(x, 0.0) for x in xs] + [(x, float(height)) for x in xs]
        border += [(0.0, y) for y in ys[1:-1]] + [(float(width), y) for y in ys[1:-1]]
        barr = np.array(border)
        points.append(barr)
        depth.append(np.full(len(barr), self._pivot_depth))
        head_w.append(np.zeros(len(barr)))
        jaw_w.append(np.zeros(len(barr)))
        ring_id.append(np.full(len(barr), len(RINGS) + 1))
        self.rest = np.concatenate(points).astype(np.float64)  # (M, 2) output pixels
        self._depth = np.concatenate(depth)  # (M,) pixels toward the camera
        self._head_w = np.concatenate(head_w)  # (M,)
        self._ring_jaw = np.concatenate(jaw_w)  # (M,)
        self._ring = np.concatenate(ring_id)  # (M,) 0 = landmark, 1.. = rings, last = border
        self._m = len(self.rest)

        # the neck turns less than the head: fade the influence below the chin
        f = self.face_h
        uv = self._local(self.rest)
        v_chin = float(uv[CHIN, 1])
        below = _smoothstep(v_chin - 0.02, v_chin + 0.3, uv[:, 1])
        self._head_w = np.where(self._ring > 0, self._head_w * (1.0 - 0.75 * below), self._head_w)
        self._uv = uv  # (M, 2) face units
        raw = np.concatenate([raw_depth, self._depth[self._n :]])
        self._d = (raw - self._pivot_depth) / f  # (M,) face units in front of the pivot (unsmoothed)
        # pivots: yaw/pitch about a point inside the head at ear level, roll about the neck
        self._pivot = np.array([centre[0], float(lm[[SIDE_LEFT, SIDE_RIGHT], 1].mean()) + 0.05 * f])
        self._roll_pivot = lm[CHIN, :2] + self._ey * 0.18 * f

    def _local(self, p: np.ndarray) -> np.ndarray:
        """(K, 2) output pixels -> (K, 2) face units (u: along the eye line, v: down the face)."""
        q = (p - self._origin) / self.face_h
        return np.stack([q @ self._ex, q @ self._ey], axis=1)

    def _setup_basis(self) -> None:
        """Per-blendshape vertex displacement fields (52, M, 2) in output pixels."""
        u, v = self._uv[:, 0], self._uv[:, 1]
        m, n = self._m, self._n
        landmark = self._ring == 0
        basis = np.zeros((NUM_BLENDSHAPES, m, 2))  # (52, M, 2) face units (du, dv)

        def add(name: str, du: np.ndarray | float, dv: np.ndarray | float) -> None:
            basis[INDEX[name], :, 0] += du
            basis[INDEX[name], :, 1] += dv

        def mask(idx: tuple[int, ...]) -> np.ndarray:
            out = np.zeros(m)
            out[[i for i in idx if i < n]] = 1.0
            return out

        # ---------------------------------------------------------------- mouth and jaw
        uc = (u[61] + u[291]) / 2
        hw = max((u[291] - u[61]) / 2, 1e-3)
        e = np.sqrt(np.clip(1.0 - ((u - uc) / hw) ** 2, 0.0, 1.0))  # (M,) lens profile of an opening
        upper, lower = mask(UPPER_LIP), mask(LOWER_LIP)
        corners = mask(MOUTH_CORNERS_LEFT + MOUTH_CORNERS_RIGHT)
        lips = np.clip(upper + lower + corners, 0, 1)
        slit_u = (u[list(LIPS_UPPER_INNER)] + u[list(LIPS_LOWER_INNER)]) / 2
        slit_v = (v[list(LIPS_UPPER_INNER)] + v[list(LIPS_LOWER_INNER)]) / 2
        order = np.argsort(slit_u)
        v_slit = np.interp(u, slit_u[order], slit_v[order])  # (M,)
        below_slit = v - v_slit
        central = 1.0 - _smoothstep(0.8 * hw, 1.8 * hw, np.abs(u - uc))
        lateral = _smoothstep(0.0, 0.18, below_slit)
        jaw_other = _smoothstep(0.0, 0.05, below_slit) * (central + (1.0 - central) * lateral)
        d_hinge = float(self._d[[SIDE_LEFT, SIDE_RIGHT]].mean())
        d_chin = float(self._d[CHIN])
        reach = np.clip((self._d - d_hinge) / max(d_chin - d_hinge, 1e-3), 0.0, 1.0)  # in front of the hinge
        jaw = np.where(
            landmark, jaw_other * reach, _smoothstep(0.0, 0.05, below_slit) * central * self._ring_jaw
        )
        jaw = np.where(lower > 0, CORNER_SHARE + (1 - CORNER_SHARE) * e, jaw)
        jaw = np.where(upper > 0, CORNER_SHARE * (1 - e), jaw)
        jaw = np.where(corners > 0, CORNER_SHARE, jaw)
        add("JawOpen", -(u - uc) * 0.1 * lips, JAW_DROP * jaw)
        add("JawLeft", 0.05 * jaw, 0.0)
        add("JawRight", -0.05 * jaw, 0.0)
        add("JawForward", 0.0, 0.012 * jaw)

        # lip parting channels keep the chin in place
        lip_profile = 0.3 + 0.7 * e
        side_l = _smoothstep(uc - 0.5 * hw, uc + 0.5 * hw, u)  # subject's left half (viewer's right)
        side_r = 1.0 - side_l
        up_outer_u, up_outer_v = _curve(u, v, LIPS_UPPER_OUTER)
        lo_outer_u, lo_outer_v = _curve(u, v, LIPS_LOWER_OUTER)
        up_inner_u, up_inner_v = _curve(u, v, LIPS_UPPER_INNER)
        lo_inner_u, lo_inner_v = _curve(u, v, LIPS_LOWER_INNER)
        above_upper = np.interp(u, up_outer_u, up_outer_v) - v
        below_lower = v - np.interp(u, lo_outer_u, lo_outer_v)
        skin_up = (
            landmark * (1 - lips) * central * (above_upper > 0) * (1.0 - _smoothstep(0.0, 0.1, above_upper))
        )
        skin_lo = (
            landmark * (1 - lips) * central * (below_lower > 0) * (1.0 - _smoothstep(0.0, 0.12, below_lower))
        )
        lower_zone = lower + 0.5 * corners + skin_lo
        upper_zone = upper + 0.5 * corners + skin_up
        for side, w in (("Left", side_l), ("Right", side_r)):
            add(f"MouthLowerDown{side}", 0.0, 0.05 * w * lip_profile * lower_zone)
            add(f"MouthUpperUp{side}", 0.0, -0.04 * w * lip_profile * upper_zone)
        add("MouthClose", 0.0, -JAW_DROP * (lower * jaw + 0.3 * corners * jaw))
        lip_lo_thick = v - np.interp(u, lo_inner_u, lo_inner_v)
        lip_up_thick = np.interp(u, up_inner_u, up_inner_v) - v
        add("MouthRollLower", 0.0, -0.6 * lower * np.clip(lip_lo_thick, 0, None))
        add("MouthRollUpper", 0.0, 0.6 * upper * np.clip(lip_up_thick, 0, None))
        add("MouthShrugLower", 0.0, -0.025 * (lower + 0.5 * corners + skin_lo))
        add("MouthShrugUpper", 0.0, -0.015 * (upper + 0.5 * corners + skin_up))
        mouth_centre = np.array([uc, float(v_slit[13])])
        near_mouth = np.maximum(
            lips, _gauss(np.hypot(u - mouth_centre[0], (v - mouth_centre[1]) * 1.3), 1.1 * hw)
        )
        near_mouth = near_mouth * landmark
        add("MouthLeft", 0.05 * near_mouth, 0.0)
        add("MouthRight", -0.05 * near_mouth, 0.0)
        add("MouthFunnel", -(u - uc) * 0.25 * near_mouth, -0.015 * e * upper + 0.022 * e * lower)
        add("MouthPucker", -(u - uc) * 0.35 * near_mouth, 0.0)
        for side, corner, sign, w in (("Left", 291, 1.0, side_l), ("Right", 61, -1.0, side_r)):
            g = _gauss(np.hypot(u - u[corner], v - v[corner]), 0.55 * hw) * landmark
            add(f"MouthSmile{side}", sign * 0.05 * g, -0.045 * g)
            add(f"MouthFrown{side}", sign * 0.008 * g, 0.04 * g)
            add(f"MouthDimple{side}", sign * 0.025 * g, -0.004 * g)
            add(f"MouthStretch{side}", sign * 0.045 * g, 0.015 * g + 0.01 * e * lower * w)
            add(f"MouthPress{side}", -sign * 0.006 * g, w * (0.008 * e * upper - 0.01 * e * lower))
            cheek = CHEEK_LEFT if side == "Left" else CHEEK_RIGHT
            gc = _gauss(np.hypot(u - u[cheek], v - v[cheek]), 0.1) * landmark
            add(f"MouthSmile{side}", sign * 0.006 * gc, -0.02 * gc)
            add(f"CheekSquint{side}", 0.0, -0.02 * gc)
            wing = NOSE_WING_LEFT if side == "Left" else NOSE_WING_RIGHT
            gw = _gauss(np.hypot(u - u[wing], v - v[wing]), 0.05) * landmark
            add(f"NoseSneer{side}", -sign * 0.004 * gw, -0.025 * gw - 0.008 * w * upper_zone)
        # CheekPuff: the cheeks beside the mouth swell outward
        for sign, corner, edge in ((1.0, 291, SIDE_LEFT), (-1.0, 61, SIDE_RIGHT)):
            c = np.array([(u[corner] + u[edge]) / 2, v[corner] - 0.02])
            g = _gauss(np.hypot(u - c[0], v - c[1]), 0.13) * landmark * (1 - lips)
            add("CheekPuff", sign * 0.035 * g, 0.0)

        # --------------------------------------------------------------------------- eyes
        self._eyes: dict[str, _Eye] = {}
        u_mid = float(u[168])
        for side, up_idx, lo_idx, iris, inner, outer in (
            ("Left", EYE_LEFT_UPPER, EYE_LEFT_LOWER, IRIS_LEFT, BROW_LEFT_INNER, BROW_LEFT_OUTER),
            ("Right", EYE_RIGHT_UPPER, EYE_RIGHT_LOWER, IRIS_RIGHT, BROW_RIGHT_INNER, BROW_RIGHT_OUTER),
        ):
            up_u, up_v = _curve(u, v, up_idx)
            lo_u, lo_v = _curve(u, v, lo_idx)
            width = float(up_u[-1] - up_u[0])
            crease = EYE_LEFT_CREASE if side == "Left" else EYE_RIGHT_CREASE
            cheek = EYE_LEFT_CHEEK if side == "Left" else EYE_RIGHT_CHEEK
            self._eyes[side] = _Eye(up_idx, crease, cheek)
            this_side = (u > u_mid) if side == "Left" else (u <= u_mid)
            vu = np.interp(u, up_u, up_v)
            vl = np.interp(u, lo_u, lo_v)
            h = np.where((u > up_u[0]) & (u < up_u[-1]), np.clip(vl - vu, 0, None), 0.0)  # opening height
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(h > 1e-6, (vl - v) / h, 0.0)  # 0 at the lower lid, 1 at the upper
            t = np.where(np.isin(np.arange(m), up_idx), 1.0, np.where(np.isin(np.arange(m), lo_idx), 0.0, t))
            region = this_side & landmark
            inside = region & (t >= 0) & (t <= 1) & (h > 0)
            above = region & (t > 1)
            below = region & (t < 0)
            fall_up = np.where(above, 1.0 - _smoothstep(0.0, 0.13, vu - v), 0.0)
            fall_lo = np.where(below, 1.0 - _smoothstep(0.0, 0.07, v - vl), 0.0)
            lid_up = np.where(inside, t, 0.0) + fall_up  # how much a vertex follows the upper lid
            lid_lo = np.where(inside, 1.0 - t, 0.0) + fall_lo
            # EyeBlink: upper lid down to a line 20% above the lower lid, interior collapses onto it
            blink = np.where(inside, h * (t - 0.2), 0.8 * h * fall_up - 0.2 * h * fall_lo)
            add(f"EyeBlink{side}", 0.0, blink)
            add(f"EyeSquint{side}", 0.0, -0.3 * h * lid_lo + 0.06 * h * lid_up)
            add(f"EyeWide{side}", 0.0, -0.25 * h * lid_up)
            add(f"CheekSquint{side}", 0.0, -0.12 * h * lid_lo)
            if n >= 478:  # refined landmarks: the irises follow the gaze
                bump = np.clip(4 * t * (1 - t), 0, 1) * np.isin(np.arange(m), iris)
                out = 1.0 if side == "Left" else -1.0  # looking out = toward the subject's own side
                add(f"EyeLookOut{side}", out * 0.12 * width * bump, 0.0)
                add(f"EyeLookIn{side}", -out * 0.12 * width * bump, 0.0)
                add(f"EyeLookUp{side}", 0.0, -0.05 * width * bump - 0.1 * h * lid_up)
                add(f"EyeLookDown{side}", 0.0, 0.05 * width * bump + 0.15 * h * lid_up)
            else:
                add(f"EyeLookUp{side}", 0.0, -0.1 * h * lid_up)
                add(f"EyeLookDown{side}", 0.0, 0.15 * h * lid_up)

            # brows: full motion at the brow, the forehead follows partly, fading down to the upper lid
            brow_u, brow_v = _curve(u, v, inner + outer)
            vb = np.interp(u, brow_u, brow_v)
            u_eye = float(up_u.mean())
            gap = max(float(np.interp(u_eye, up_u, up_v) - np.interp(u_eye, brow_u, brow_v)), 0.02)
            vert = np.where(
                v < vb, 1.0 - 0.6 * _smoothstep(0.0, 0.3, vb - v), 1.0 - _smoothstep(0.0, gap, v - vb)
            )
            vert = vert * this_side * landmark
            u_in = float(u[list(inner)].mean())
            u_out = float(u[list(outer)].mean())
            toward_mid = -1.0 if side == "Left" else 1.0
            add("BrowInnerUp", 0.0, -0.045 * _gauss(u - u_in, 0.07) * vert)
            add(f"BrowOuterUp{side}", 0.0, -0.04 * _gauss(u - u_out, 0.07) * vert)
            gd = _gauss(u - (0.6 * u_in + 0.4 * u_out), 0.09) * vert
            add(f"BrowDown{side}", toward_mid * 0.01 * gd, 0.03 * gd)

        # face units -> output pixels: (52, M, 2)
        f = self.face_h
        self._basis = f * (basis[..., 0:1] * self._ex + basis[..., 1:2] * self._ey)
        self._basis_flat = self._basis.reshape(NUM_BLENDSHAPES, -1)  # (52, 2M)

    def _setup_triangles(self) -> None:
        """The mesh: MediaPipe's face-surface triangles (its 3D topology, so a turned face unfolds and
        folds where a real one does), the eye openings (with the irises), the mouth opening (rungs from
        the upper to the lower inner lip) and a Delaunay triangulation of the oval, the rings and the
        border outside the face oval."""
        n = self._n
        face = FACE_MESH_TRIANGLES
        mouth = _ladder(LIPS_UPPER_INNER, LIPS_LOWER_INNER)  # rungs from the upper to the lower inner lip
        eyes = []
        for up, lo, iris in (
            (EYE_LEFT_UPPER, EYE_LEFT_LOWER, IRIS_LEFT),
            (EYE_RIGHT_UPPER, EYE_RIGHT_LOWER, IRIS_RIGHT),
        ):
            contour = np.array(up + lo[-2:0:-1])  # closed: upper lid, then the lower lid back
            poly = self.rest[contour]
            inner = [i for i in iris if i < n and _point_in_polygon(self.rest[i : i + 1], poly)[0]]
            inner = [i for i in inner if float(np.hypot(*(poly - self.rest[i]).T).min()) > 0.5]
            pts = np.concatenate([contour, np.array(inner, dtype=np.int64)])
            if inner:
                tri = pts[Delaunay(self.rest[pts]).simplices]
                keep = _point_in_polygon(self.rest[tri].mean(axis=1), poly)
                eyes.append(tri[keep])
            else:
                eyes.append(_ladder(up, lo))
        oval = np.array(FACE_OVAL)
        outer = np.concatenate([oval, np.arange(n, self._m)])
        tri = outer[Delaunay(self.rest[outer]).simplices]
        inside = np.isin(tri, oval).all(axis=1) & _point_in_polygon(
            self.rest[tri].mean(axis=1), self.rest[oval]
        )
        self.triangles = np.concatenate([face, mouth, *eyes, tri[~inside]]).astype(np.int64)  # (T, 3)
        self._mouth_tris = mouth
        covered = float(np.abs(_areas(self.rest, self.triangles)).sum())
        if abs(covered - self.size[0] * self.size[1]) > 0.01 * self.size[0] * self.size[1]:
            log.warning(
                "portrait mesh covers %.0f px of %d: the landmarks may be off",
                covered,
                self.size[0] * self.size[1],
            )
        self._ring_index = np.array(INNER_RING)
        self._partner = np.array([UPPER_PARTNER[i] for i in range(self._n) if i in UPPER_PARTNER])
        self._partner_of = np.array([i for i in range(self._n) if i in UPPER_PARTNER])

    def _setup_drawing(self) -> None:
        width, height = self.size
        self._pixels = np.zeros((height, width, 4), np.uint8)
        self._surface = skia.Surface(
            self._pixels, colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kPremul_AlphaType
        )
        self._canvas = self._surface.getCanvas()
        self._image = skia.Image.fromarray(
            self.base, colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kOpaque_AlphaType
        )
        # kDecal: texture coordinates stay inside the photo, and skia's decal pipeline is about twice as
        # fast as clamp on the CPU
        shader = self._image.makeShader(
            skia.TileMode.kDecal, skia.TileMode.kDecal, skia.SamplingOptions(skia.FilterMode.kLinear)
        )
        self._mesh_paint = skia.Paint(Shader=shader)
        self._tex = list(itertools.starmap(skia.Point, self.rest.tolist()))
        self._mouth_list = self._mouth_tris.ravel().tolist()
        # the skin colour under each eye (median of small discs around cheek landmarks), for closed lids
        ys, xs = np.mgrid[0:height, 0:width]
        self._lid_skin: dict[str, tuple[int, int, int]] = {}
        for side, eye in self._eyes.items():
            near = np.zeros((height, width), bool)
            for x, y in self.rest[list(eye.cheek)]:
                near |= (xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 < (0.02 * self.face_h) ** 2
            pixels = self.base[..., :3][near] if near.any() else self.base[..., :3].reshape(-1, 3)
            self._lid_skin[side] = tuple(int(c) for c in np.median(pixels, axis=0))  # type: ignore[assignment]
        # does the photo show its own teeth (an open smile)? Then no drawn upper teeth are needed
        self._photo_teeth = float(np.linalg.norm(self.rest[13] - self.rest[14])) / self.face_h > 0.03

    # ------------------------------------------------------------------------------------ frames
    def deform(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One ARKit frame (58,) -> mesh vertices (M, 2) in output pixels and their depths (M,) toward
        the camera (the rest depths themselves, the same array, when the head does not move).
        Vertices 0..N-1 are the face-mesh landmarks."""
        f = check_frames(frame)[0].astype(np.float64)
        coeffs = np.clip(f[:NUM_BLENDSHAPES], 0.0, 1.0) * self.config.expression_gain
        expr = self.rest + (coeffs @ self._basis_flat).reshape(-1, 2)  # (M, 2)
        gain = self.config.head_gain
        yaw = math.radians(float(np.clip(f[INDEX["HeadYaw"]] * gain, -MAX_YAW, MAX_YAW)))
        pitch = math.radians(float(np.clip(f[INDEX["HeadPitch"]] * gain, -MAX_PITCH, MAX_PITCH)))
        roll = math.radians(float(np.clip(f[INDEX["HeadRoll"]] * gain, -MAX_ROLL, MAX_ROLL)))
        shift = np.clip(f[INDEX["HeadX"] : INDEX["HeadZ"] + 1] * gain, -MAX_SHIFT_CM, MAX_SHIFT_CM)
        depth = self._depth
        if not (yaw or pitch or roll or shift.any()):
            return expr, depth
        w = self._head_w[:, None]  # (M, 1)
        # roll: in the image plane about the neck (+roll: the top of the head to the viewer's right)
        c, s = math.cos(roll), math.sin(roll)
        q = expr - self._roll_pivot
        p = np.stack([c * q[:, 0] - s * q[:, 1], s * q[:, 0] + c * q[:, 1]], axis=1) + self._roll_pivot
        # pitch then yaw about the head pivot, orthographic (x right, y down, d toward the camera)
        x = p[:, 0] - self._pivot[0]
        y = p[:, 1] - self._pivot[1]
        d = depth - self._pivot_depth
        cp, sp = math.cos(pitch), math.sin(pitch)
        y, d = cp * y - sp * d, sp * y + cp * d  # +pitch: the chin rises (front points move up)
        cy, sy = math.cos(yaw), math.sin(yaw)
        x, d = cy * x + sy * d, -sy * x + cy * d  # +yaw: the face turns to the viewer's right
        zoom = CAMERA_CM / (CAMERA_CM - float(np.clip(shift[2], -MAX_DEPTH_CM, MAX_DEPTH_CM)))  # +z: nearer
        moved = np.stack([x * zoom + self._pivot[0], y * zoom + self._pivot[1]], axis=1)
        moved += self._px_per_cm * np.array([shift[0], -shift[1]])
        out = expr + w * (moved - expr)
        new_depth = depth + w[:, 0] * (d + self._pivot_depth - depth)
        return out, new_depth

    def render(self, frame: np.ndarray) -> np.ndarray:
        """One ARKit frame (58,) -> (H, W, 4) uint8 RGBA, opaque."""
        f = check_frames(frame)[0]
        pos, depth = self.deform(f)
        canvas = self._canvas
        canvas.restoreToCount(1)  # no clip left over from a frame that failed half-way
        canvas.drawImage(self._image, 0, 0)  # the rest pose: a plain copy; then the triangles that moved
        moved = np.abs(pos - self.rest).max(axis=1) > 0.01  # (M,)
        tris = self.triangles[moved[self.triangles].any(axis=1)]  # (T', 3)
        if len(tris):
            if depth is not self._depth:  # back to front, so a turned nose covers the far cheek
                tris = tris[np.argsort(depth[tris].sum(axis=1), kind="stable")]
            points = list(itertools.starmap(skia.Point, pos.tolist()))
            canvas.drawVertices(
                skia.Vertices(
                    skia.Vertices.kTriangles_VertexMode, points, self._tex, None, tris.ravel().tolist()
                ),
                self._mesh_paint,
            )
        self._draw_mouth(canvas, pos, f)
        self._draw_lids(canvas, pos, f)
        return self._pixels.copy()

    def _draw_mouth(self, canvas: skia.Canvas, pos: np.ndarray, f: np.ndarray) -> None:
        fh = self.face_h
        pairs = ((13, 14), (82, 87), (312, 317))
        gap = float(np.mean([np.linalg.norm(pos[a] - pos[b]) for a, b in pairs])) / fh
        rest_gap = float(np.mean([np.linalg.norm(self.rest[a] - self.rest[b]) for a, b in pairs])) / fh
        alpha = float(np.clip((gap - rest_gap - 0.002) / 0.015, 0.0, 1.0))
        if alpha <= 0.0:
            return
        ring = pos[list(INNER_RING)]  # (20, 2)
        path = _smooth_path(ring, closed=True)
        canvas.save()
        canvas.clipPath(path, skia.ClipOp.kIntersect, True)
        # cavity: dark in the back, warmer toward the lips
        down = pos[14] - pos[13]
        centre = (pos[13] + pos[14]) / 2
        width = float(np.linalg.norm(pos[308] - pos[78]))
        radius = max(width * 0.6, 2.0)
        cavity = skia.Paint(
            AntiAlias=True,
            Shader=skia.GradientShader.MakeRadial(
                skia.Point(float(centre[0]), float(centre[1])),
                radius,
                [_color(CAVITY_DARK, alpha), _color(CAVITY_DARK, alpha), _color(CAVITY_EDGE, alpha)],
                [0.0, 0.45, 1.0],
            ),
        )
        canvas.drawPaint(cavity)
        # tongue: a soft, flat ellipse resting on the lower lip, pushed out by TongueOut
        tongue_out = float(np.clip(f[INDEX["TongueOut"]], 0, 1))
        lower = pos[list(LIPS_LOWER_INNER)]
        t_centre = lower.mean(0) + 0.2 * down * (1 - 0.8 * tongue_out)
        t_rx = (0.38 + 0.05 * tongue_out) * width
        t_ry = max(0.3 * float(np.linalg.norm(down)), 0.015 * fh) * (1 + 0.8 * tongue_out)
        angle = math.degrees(math.atan2(float(pos[308][1] - pos[78][1]), float(pos[308][0] - pos[78][0])))
        t_alpha = alpha * float(_smoothstep(0.015, 0.07, np.array(gap - rest_gap)))
        if t_alpha > 0.01:
            canvas.save()
            canvas.translate(float(t_centre[0]), float(t_centre[1]))
            canvas.rotate(angle)
            tongue = skia.Paint(
                AntiAlias=True,
                Shader=skia.GradientShader.MakeRadial(
                    skia.Point(0, float(t_ry) * 0.5),
                    float(max(t_rx, 1.0)),
                    [_color(TONGUE, t_alpha), _color(TONGUE_DARK, t_alpha)],
                ),
                MaskFilter=skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, max(0.5, 0.006 * fh)),
            )
            canvas.drawOval(skia.Rect.MakeLTRB(-t_rx, -t_ry, t_rx, t_ry), tongue)
            canvas.restore()
        # upper teeth under the upper lip (for photos that do not show their own): a band narrower than
        # the mouth (dark corners), shorter toward its ends, shaded at the sides and under the lip
        if not self._photo_teeth:
            upper = pos[list(LIPS_UPPER_INNER)][1:-1]  # (9, 2) without the corners
            mid = upper.mean(0)
            upper = mid + (upper - mid) * np.array([0.9, 1.0])
            unit = down / max(float(np.linalg.norm(down)), 1e-6)
            s = np.linspace(-1.0, 1.0, len(upper))
            height = TEETH_HEIGHT * fh * (0.55 + 0.45 * np.sqrt(1.0 - s * s))[:, None]  # (9, 1)
            top = upper - unit * 0.01 * fh  # tucked under the lip
            band = np.concatenate([top, (upper + unit * height)[::-1]])
            teeth = skia.Paint(
                AntiAlias=True,
                Shader=skia.GradientShader.MakeRadial(
                    skia.Point(float(mid[0]), float(mid[1])),
                    max(width * 0.5, 1.0),
                    [_color(TEETH, alpha), _color(TEETH, alpha), _color(TEETH_SHADE, alpha)],
                    [0.0, 0.45, 1.0],
                ),
            )
            canvas.drawPath(_smooth_path(band, closed=True), teeth)
            a, b = mid, mid + unit * 0.02 * fh
            shadow = skia.Paint(
                AntiAlias=True,
                Shader=skia.GradientShader.MakeLinear(
                    [skia.Point(float(a[0]), float(a[1])), skia.Point(float(b[0]), float(b[1]))],
                    [_color(CAVITY_DARK, 0.45 * alpha), _color(CAVITY_DARK, 0.0)],
                ),
            )
            canvas.drawPath(_smooth_path(band, closed=True), shadow)
        # the photo's own mouth interior (teeth of a smile), moving with the upper lip; the mesh is grown
        # by a pixel and clipped to its own outline so that its edge is anti-aliased too
        if len(self._mouth_list):
            interior = pos.copy()
            ring = self._ring_index
            interior[self._partner_of] = (
                self.rest[self._partner_of] + pos[self._partner] - self.rest[self._partner]
            )
            outline = interior[ring]  # (20, 2)
            centre = outline.mean(0)
            away = outline - centre
            interior[ring] = outline + away / np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
            path = skia.Path()
            path.addPoly([skia.Point(float(x), float(y)) for x, y in outline], True)
            canvas.clipPath(path, skia.ClipOp.kIntersect, True)
            pts = list(itertools.starmap(skia.Point, interior.tolist()))
            canvas.drawVertices(
                skia.Vertices(skia.Vertices.kTriangles_VertexMode, pts, self._tex, None, self._mouth_list),
                self._mesh_paint,
            )
        canvas.restore()

    def _draw_lids(self, canvas: skia.Canvas, pos: np.ndarray, f: np.ndarray) -> None:
        """A closing upper lid: the stretched lid skin is evened out toward the skin's own colour,
        and a soft lash line (a thin crescent, thickest in the middle) runs along its edge."""
        fh = self.face_h
        for side, eye in self._eyes.items():
            blink = float(np.clip(f[INDEX[f"EyeBlink{side}"]] * self.config.expression_gain, 0, 1))
            if blink <= 0.2:
                continue
            lid = pos[list(eye.upper)]  # (9, 2) corner to corner
            skin_alpha = LID_SKIN_ALPHA * float(_smoothstep(0.2, 1.0, np.array(blink)))
            crease = pos[list(eye.crease)]  # (7, 2)
            band = np.concatenate([lid[:1], crease, lid[-1:], lid[-2:0:-1]])
            top, bottom = crease.mean(0), lid.mean(0)
            skin = skia.Paint(
                AntiAlias=True,
                Shader=skia.GradientShader.MakeLinear(
                    [
                        skia.Point(float(top[0]), float(top[1])),
                        skia.Point(float(bottom[0]), float(bottom[1])),
                    ],
                    [
                        _color(self._lid_skin[side], 0.3 * skin_alpha),
                        _color(self._lid_skin[side], skin_alpha),
                    ],
                ),
                MaskFilter=skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, max(0.5, 0.006 * fh)),
            )
            canvas.drawPath(_smooth_path(band, closed=True), skin)
            alpha = 0.6 * float(_smoothstep(0.4, 0.95, np.array(blink)))
            tangent = np.gradient(lid, axis=0)
            normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
            normal *= np.sign(float(normal[:, 1].sum()) or 1.0)  # pointing down the face
            s = np.linspace(0.0, 1.0, len(lid))
            half = 0.5 * max(1.0, 0.009 * fh) * np.sin(np.pi * s) ** 0.7  # (9,)
            outline = np.concatenate(
                [lid - normal * half[:, None] * 0.6, (lid + normal * half[:, None])[::-1]]
            )
            paint = skia.Paint(
                AntiAlias=True,
                Color=_color(LASH, alpha),
                MaskFilter=skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, max(0.4, 0.003 * fh)),
            )
            canvas.drawPath(_smooth_path(outline, closed=True), paint)

    # ---------------------------------------------------------------------------------- regions
    def regions(self) -> dict[str, tuple[int, int, int, int]]:
        """Rest-pose boxes from the landmarks: the face oval, the lips and each eye's lids, with a
        margin of 2% of the face height ("left_eye" is the avatar's own left, on the viewer's right)."""
        width, height = self.size
        lm = self.rest
        pad = 0.02 * self.face_h

        def box(idx: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
            pts = lm[list(idx)]
            x0, y0 = np.floor(pts.min(0) - margin).astype(int)
            x1, y1 = np.ceil(pts.max(0) + margin).astype(int) + 1
            return (max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height))

        return {
            "face": box(FACE_OVAL, 0.0),
            "mouth": box(LIPS_UPPER_OUTER + LIPS_LOWER_OUTER, pad),
            "left_eye": box(EYE_LEFT_UPPER + EYE_LEFT_LOWER, pad),
            "right_eye": box(EYE_RIGHT_UPPER + EYE_RIGHT_LOWER, pad),
        }


# ----------------------------------------------------------------------------------------- loading
def _load_portrait(image_path: str | None, landmarks_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The photo (H, W, 3) uint8 and its landmarks (N, 3) in its pixels."""
    img_path = Path(image_path).expanduser() if image_path else DEFAULT_IMAGE
    image = read_image_rgb(img_path)
    ih, iw = image.shape[:2]
    if landmarks_path:
        lm, (lw, lh) = load_landmarks(Path(landmarks_path).expanduser())
    elif image_path is None or _same_file(img_path, DEFAULT_IMAGE):
        lm, (lw, lh) = load_landmarks(DEFAULT_LANDMARKS)
    else:
        log.info("detecting face landmarks in %s with MediaPipe", img_path)
        return image, check_landmarks(detect_landmarks(image))
    if (lw, lh) != (iw, ih):
        if abs(lw / lh - iw / ih) > 0.01 * iw / ih:
            raise RendererError(
                f"the landmarks are for a {lw}x{lh} image but the photo is {iw}x{ih}: "
                "make them for this photo (avatar-forcing landmarks PHOTO --out FILE.npz)"
            )
        lm = lm * np.array([iw / lw, ih / lh, iw / lw], np.float32)
    return image, lm


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


__all__ = ["DEFAULT_IMAGE", "DEFAULT_LANDMARKS", "PortraitConfig", "PortraitRenderer"]
