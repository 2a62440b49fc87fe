"""ARKit frame -> VRM 0.x blend shape presets and a Unity head pose (for the VMC sink).

Everything here returns plain Python ``float`` values (never numpy scalars, never ints): VMC
receivers need OSC floats, python-osc rejects numpy types and sends Python ints as OSC ints.

Blend shape presets (``b(X)`` is the ARKit blendshape X, ``mean`` of the Left/Right pair, all
results clamped to 0..1). VRM's ``_L``/``_R`` and "Left"/"Right" are the avatar's own sides, like
ARKit's.

====================  ======================================================================
preset                formula
====================  ======================================================================
Blink                 ``c = min(b(EyeBlinkLeft), b(EyeBlinkRight))`` (both eyes together)
Blink_L / Blink_R     ``b(EyeBlinkLeft) - c`` / ``b(EyeBlinkRight) - c``: VRM adds presets, so
                      the common part goes to Blink and only the difference to one eye (a wink)
A I U E O             from three mouth features: ``open = b(JawOpen) - b(MouthClose)`` (lips
                      apart), ``r = max(b(MouthFunnel), b(MouthPucker))`` (rounded lips),
                      ``w = max(mean(MouthStretch), 0.5 mean(MouthSmile))`` (spread lips):
                      ``A = open (1-r)(1-w)``, ``E = open (1-r) w``, ``O = open r``,
                      ``I = (1-open)(1-r) w``, ``U = (1-open) r``. The five add up to
                      ``open + (1-open)(r + w - r w) <= 1``, so they never over-drive the mouth,
                      and a closed, relaxed mouth gives all zeros.
Joy / Fun             ``s = mean(MouthSmile)``, ``q = max(mean(CheekSquint), mean(EyeSquint))``:
                      ``Joy = s q`` (smile with squinted eyes, VRoid's "^ ^" Joy),
                      ``Fun = s (1-q)`` (smile with open eyes); ``Joy + Fun = s``
Angry                 ``(0.7 mean(BrowDown) + 0.3 mean(NoseSneer)) (1-s)``
Sorrow                ``(0.5 mean(MouthFrown) + 0.5 b(BrowInnerUp)(1 - mean(BrowOuterUp))) (1-s)``
                      (inner brows up without the outer ones is the sad brow, not surprise)
LookUp / LookDown     ``mean(EyeLookUp)`` / ``mean(EyeLookDown)``
LookLeft              avatar looks to its own left: ``mean(b(EyeLookOutLeft), b(EyeLookInRight))``
LookRight             ``mean(b(EyeLookInLeft), b(EyeLookOutRight))``
====================  ======================================================================

Head pose in Unity (left-handed: +x right, +y up, +z forward; a VRM humanoid faces +z, so its own
left is -x). The ARKit frame is avatar-centric (see :mod:`models.motion.arkit`: +yaw turns the
face to its own left, +pitch raises the chin, +roll tilts toward its own left shoulder; +HeadX is
the avatar's left, +y up, +z forward). In Unity a positive rotation about +y turns +z toward +x
(the avatar's right), about +x turns +z toward -y (chin down), about +z turns +y toward -x (the top
of the head toward the avatar's left). Hence the Unity Euler angles (degrees)::

    ex = -HeadPitch    ey = -HeadYaw    ez = +HeadRoll

combined like ``Quaternion.Euler(ex, ey, ez)`` (Unity applies z, then x, then y:
``q = qy * qx * qz``), and the position (metres) ``(-HeadX, HeadY, HeadZ) / 100``.
Quaternions are ``(x, y, z, w)`` as VMC sends them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.motion.arkit import ARKIT_BLENDSHAPES, ARKIT_DIM, INDEX

VRM0_PRESETS: tuple[str, ...] = (
    "A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R", "Joy", "Angry", "Sorrow", "Fun",
    "LookUp", "LookDown", "LookLeft", "LookRight",
)  # fmt: skip

_I = INDEX  # name -> index into the 58-vector


def _clamp01(x: float) -> float:
    """Clamp to 0..1 as a Python float; NaN becomes 0."""
    if not x > 0.0:
        return 0.0
    return 1.0 if x >= 1.0 else float(x)


def _as_list(values: np.ndarray | Sequence[float]) -> list[float]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (ARKIT_DIM,):
        raise ValueError(f"expected {ARKIT_DIM} ARKit channels, got shape {arr.shape}")
    return [float(v) for v in arr.tolist()]


def arkit_to_vrm0(values: np.ndarray | Sequence[float]) -> dict[str, float]:
    """``(58,)`` ARKit vector -> ``{preset: float}`` for the 16 VRM 0.x presets (see module doc).

    Keys are in :data:`VRM0_PRESETS` order; values are Python floats in 0..1.
    """
    v = _as_list(values)

    def b(name: str) -> float:
        return _clamp01(v[_I[name]])

    def pair(stem: str) -> float:
        return 0.5 * (b(stem + "Left") + b(stem + "Right"))

    blink_l, blink_r = b("EyeBlinkLeft"), b("EyeBlinkRight")
    both = min(blink_l, blink_r)

    opening = _clamp01(b("JawOpen") - b("MouthClose"))
    rounded = max(b("MouthFunnel"), b("MouthPucker"))
    smile = pair("MouthSmile")
    wide = _clamp01(max(pair("MouthStretch"), 0.5 * smile))

    squint = max(pair("CheekSquint"), pair("EyeSquint"))
    not_smiling = 1.0 - smile
    angry = (0.7 * pair("BrowDown") + 0.3 * pair("NoseSneer")) * not_smiling
    sad_brow = b("BrowInnerUp") * (1.0 - pair("BrowOuterUp"))
    sorrow = (0.5 * pair("MouthFrown") + 0.5 * sad_brow) * not_smiling

    out = {
        "A": opening * (1.0 - rounded) * (1.0 - wide),
        "I": (1.0 - opening) * (1.0 - rounded) * wide,
        "U": (1.0 - opening) * rounded,
        "E": opening * (1.0 - rounded) * wide,
        "O": opening * rounded,
        "Blink": both,
        "Blink_L": blink_l - both,
        "Blink_R": blink_r - both,
        "Joy": smile * squint,
        "Angry": angry,
        "Sorrow": sorrow,
        "Fun": smile * (1.0 - squint),
        "LookUp": pair("EyeLookUp"),
        "LookDown": pair("EyeLookDown"),
        "LookLeft": 0.5 * (b("EyeLookOutLeft") + b("EyeLookInRight")),
        "LookRight": 0.5 * (b("EyeLookInLeft") + b("EyeLookOutRight")),
    }
    return {name: _clamp01(out[name]) for name in VRM0_PRESETS}


def arkit_blendshapes(values: np.ndarray | Sequence[float]) -> dict[str, float]:
    """The 52 ARKit blendshapes as ``{PascalCase name: float}`` clamped to 0..1 (Perfect Sync)."""
    v = _as_list(values)
    return {name: _clamp01(v[i]) for i, name in enumerate(ARKIT_BLENDSHAPES)}


def quat_mul(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """Hamilton product of two ``(x, y, z, w)`` quaternions (``a`` applied after ``b``)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def unity_euler_to_quat(ex: float, ey: float, ez: float) -> tuple[float, float, float, float]:
    """Unity's ``Quaternion.Euler(ex, ey, ez)`` (degrees) as ``(x, y, z, w)`` Python floats."""
    hx, hy, hz = (math.radians(a) / 2.0 for a in (ex, ey, ez))
    qx = (math.sin(hx), 0.0, 0.0, math.cos(hx))
    qy = (0.0, math.sin(hy), 0.0, math.cos(hy))
    qz = (0.0, 0.0, math.sin(hz), math.cos(hz))
    x, y, z, w = quat_mul(qy, quat_mul(qx, qz))
    return (float(x), float(y), float(z), float(w))


def quat_rotate(q: tuple[float, float, float, float], v: tuple[float, float, float]) -> tuple[float, ...]:
    """Rotate vector ``v`` by unit quaternion ``q`` (``q v q*``)."""
    x, y, z, _ = quat_mul(quat_mul(q, (v[0], v[1], v[2], 0.0)), (-q[0], -q[1], -q[2], q[3]))
    return (x, y, z)


def head_pose_unity(
    values: np.ndarray | Sequence[float], *, translation: bool = True
) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """``(58,)`` ARKit vector -> (position m, rotation quaternion) of the head in Unity axes.

    See the module doc for the axis mapping. ``translation=False`` gives a zero position.
    """
    v = _as_list(values)
    yaw, pitch, roll = v[_I["HeadYaw"]], v[_I["HeadPitch"]], v[_I["HeadRoll"]]
    rotation = unity_euler_to_quat(-pitch, -yaw, roll)
    if translation:
        position = (-v[_I["HeadX"]] / 100.0, v[_I["HeadY"]] / 100.0, v[_I["HeadZ"]] / 100.0)
    else:
        position = (0.0, 0.0, 0.0)
    return (float(position[0]), float(position[1]), float(position[2])), rotation
