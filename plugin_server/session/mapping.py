"""ARKit frames -> the parameter names of the apps a client drives, for `motion` output:
ARKit (three spellings), VRM 0.x presets, VRM 1.0 expressions, VTube Studio default inputs.

Input: `(n, 58)` ARKit frames (52 blendshapes in 0..1, then HeadYaw, HeadPitch, HeadRoll in degrees
and HeadX, HeadY, HeadZ in cm; conventions in `models.motion.arkit`: +yaw turns to the avatar's own
left, +pitch raises the chin, +roll tilts toward its left shoulder, +x is the avatar's left).
Output: `(names, values (n, K) float32)`.

One formula set serves the whole service: the VRM 0.x presets are
`plugin_server.sinks.vrm.arkit_to_vrm0` and the VTube Studio parameters
`plugin_server.sinks.vtube_studio.arkit_to_vts` (the VMC and VTube Studio sinks use the very same
functions, so a client reading `motion` and a sink show the same face). In short (`b(X)` the
ARKit blendshape X clamped to 0..1, `mean` of its Left/Right pair, every result clamped):

  VRM 0.x (VRM 1.0 name in brackets)
    open = b(JawOpen) - b(MouthClose), r = max(b(MouthFunnel), b(MouthPucker)),
    w = max(mean(MouthStretch), 0.5 mean(MouthSmile)):
    A [aa] = open (1-r)(1-w)   I [ih] = (1-open)(1-r) w   U [ou] = (1-open) r
    E [ee] = open (1-r) w      O [oh] = open r            (the five add up to at most 1)
    Blink [blink] = min(b(EyeBlinkLeft), b(EyeBlinkRight));
    Blink_L [blinkLeft] / Blink_R [blinkRight] = each eye minus Blink (a wink)
    s = mean(MouthSmile), q = max(mean(CheekSquint), mean(EyeSquint)):
    Joy [happy] = s q    Fun [relaxed] = s (1-q)
    Angry [angry] = (0.7 mean(BrowDown) + 0.3 mean(NoseSneer)) (1-s)
    Sorrow [sad] = (0.5 mean(MouthFrown) + 0.5 b(BrowInnerUp)(1 - mean(BrowOuterUp))) (1-s)
    LookUp [lookUp] = mean(EyeLookUp)   LookDown [lookDown] = mean(EyeLookDown)
    LookLeft [lookLeft] = mean(b(EyeLookOutLeft), b(EyeLookInRight))   (toward the avatar's left)
    LookRight [lookRight] = mean(b(EyeLookInLeft), b(EyeLookOutRight))
    [surprised] (VRM 1.0 only, defined here) = 0.5 mean(EyeWide) + 0.5 mean(BrowOuterUp)
    then HeadYaw, HeadPitch, HeadRoll, HeadX, HeadY, HeadZ passed through (for the Head bone).

  VTube Studio
    FaceAngleX/Y/Z = HeadYaw / HeadPitch / HeadRoll (deg, -90..90)
    FacePositionX/Y/Z = HeadX / HeadY / HeadZ (cm, -10..10)
    MouthOpen = b(JawOpen) - b(MouthClose)                         0..1
    MouthSmile = 0.5 + 0.5 (mean(MouthSmile) - mean(MouthFrown))   0..1, 0.5 neutral
    EyeOpenLeft/Right = 1 - b(EyeBlinkLeft/Right)                  0..1
    EyeLeftX = b(EyeLookOutLeft) - b(EyeLookInLeft), EyeRightX = b(EyeLookInRight) - b(EyeLookOutRight)
    EyeLeftY/RightY = b(EyeLookUp*) - b(EyeLookDown*)              -1..1
    BrowLeftY/RightY = 0.5 + 0.5 (max(b(BrowOuterUp*), b(BrowInnerUp)) - b(BrowDown*)), Brows = mean
    CheekPuff, TongueOut = themselves; MouthX = b(MouthLeft) - b(MouthRight)   -1..1
Signs follow the avatar's own left (= the viewer's right when it faces the camera).
"""

from __future__ import annotations

import numpy as np

from models.motion.arkit import ARKIT_DIM, CHANNELS, INDEX, Spelling, spell
from plugin_server.sinks.vrm import VRM0_PRESETS, arkit_to_vrm0
from plugin_server.sinks.vtube_studio import VTS_PARAMETERS, arkit_to_vts

VRM0_NAMES: tuple[str, ...] = VRM0_PRESETS
VRM0_TO_VRM1: dict[str, str] = {
    "A": "aa", "I": "ih", "U": "ou", "E": "ee", "O": "oh", "Blink": "blink", "Blink_L": "blinkLeft",
    "Blink_R": "blinkRight", "Joy": "happy", "Angry": "angry", "Sorrow": "sad", "Fun": "relaxed",
    "LookUp": "lookUp", "LookDown": "lookDown", "LookLeft": "lookLeft", "LookRight": "lookRight",
}  # fmt: skip
VRM1_NAMES: tuple[str, ...] = (
    "aa", "ih", "ou", "ee", "oh", "blink", "blinkLeft", "blinkRight", "happy", "angry", "sad",
    "relaxed", "surprised", "lookUp", "lookDown", "lookLeft", "lookRight",
)  # fmt: skip
HEAD_NAMES: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ")
VTS_NAMES: tuple[str, ...] = VTS_PARAMETERS
_HEAD = [INDEX[h] for h in HEAD_NAMES]


def _check(frames: np.ndarray) -> np.ndarray:
    x = np.asarray(frames, np.float32)
    if x.ndim != 2 or x.shape[1] != ARKIT_DIM:
        raise ValueError(f"ARKit frames must be (n, {ARKIT_DIM}); got {x.shape}")
    return x


def surprised(frames: np.ndarray) -> np.ndarray:
    """VRM 1.0 `surprised`, (n,): 0.5 mean(EyeWide) + 0.5 mean(BrowOuterUp), clamped to 0..1."""
    x = np.clip(_check(frames)[:, : len(CHANNELS) - len(HEAD_NAMES)], 0.0, 1.0)

    def pair(stem: str) -> np.ndarray:
        return 0.5 * (x[:, INDEX[stem + "Left"]] + x[:, INDEX[stem + "Right"]])

    return np.clip(0.5 * pair("EyeWide") + 0.5 * pair("BrowOuterUp"), 0.0, 1.0)


def output_names(naming: str, spelling: Spelling = "pascal") -> list[str]:
    """Channel names of motion output for a naming (and ARKit spelling)."""
    if naming == "arkit":
        return [spell(n, spelling) for n in CHANNELS]
    if naming == "vrm":
        return [*VRM0_NAMES, *HEAD_NAMES]
    if naming == "vrm1":
        return [*VRM1_NAMES, *HEAD_NAMES]
    if naming == "vts":
        return list(VTS_NAMES)
    raise ValueError(f"unknown naming {naming!r}")


def map_frames(
    frames: np.ndarray, naming: str, spelling: Spelling = "pascal"
) -> tuple[list[str], np.ndarray]:
    """(n, 58) ARKit frames -> (names, (n, K) float32 values) in the requested naming."""
    x = _check(frames)
    names = output_names(naming, spelling)
    if naming == "arkit":
        return names, x.copy()
    if naming == "vts":
        rows = [arkit_to_vts(f) for f in x]
        return names, np.array([[r[k] for k in VTS_NAMES] for r in rows], np.float32).reshape(len(x), -1)
    vrm0 = [arkit_to_vrm0(f) for f in x]
    if naming == "vrm":
        presets = np.array([[r[k] for k in VRM0_NAMES] for r in vrm0], np.float32).reshape(len(x), -1)
    else:
        wow = surprised(x)
        presets = np.array(
            [
                [wow[i] if k == "surprised" else r[_VRM1_TO_VRM0[k]] for k in VRM1_NAMES]
                for i, r in enumerate(vrm0)
            ],
            np.float32,
        ).reshape(len(x), -1)
    return names, np.concatenate([presets, x[:, _HEAD]], axis=1)


_VRM1_TO_VRM0 = {v: k for k, v in VRM0_TO_VRM1.items()}
