"""The `arkit` motion space: 52 ARKit blendshapes plus head rotation and translation.

A frame is a vector of ARKIT_DIM = 58 floats in this order: the 52 blendshapes (0..1) in
ARKIT_BLENDSHAPES order, then HeadYaw, HeadPitch, HeadRoll (degrees) and HeadX, HeadY, HeadZ
(centimetres). Conventions, seen from the avatar: +yaw turns the face to its own left (the viewer's
right), +pitch raises the chin, +roll tilts the head toward its own left shoulder; +x is the
avatar's left, +y up, +z forward (toward the camera).

Names are accepted in the three spellings seen in the wild: EyeBlinkLeft, eyeBlinkLeft,
eyeBlink_L (and any capitalisation of them).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft",
    "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
    "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
    "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
    "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)  # fmt: skip
HEAD_POSE: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ")
CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES + HEAD_POSE
ARKIT_DIM = len(CHANNELS)  # 58
NUM_BLENDSHAPES = len(ARKIT_BLENDSHAPES)  # 52

Spelling = Literal["pascal", "camel", "lr"]
SPELLINGS: tuple[str, ...] = ("pascal", "camel", "lr")


def _key(name: str) -> str:
    """Spelling-independent lookup key: eyeBlink_L, EyeBlinkLeft, eyeblinkleft -> eyeblinkleft."""
    n = name.strip()
    if n.endswith(("_L", "_l")):
        n = n[:-2] + "Left"
    elif n.endswith(("_R", "_r")):
        n = n[:-2] + "Right"
    return n.replace("_", "").lower()


_BY_KEY: dict[str, str] = {_key(n): n for n in CHANNELS}
INDEX: dict[str, int] = {n: i for i, n in enumerate(CHANNELS)}


def canonical_name(name: str) -> str:
    """The canonical PascalCase name of any accepted spelling; unknown names raise KeyError."""
    try:
        return _BY_KEY[_key(name)]
    except KeyError:
        close = difflib.get_close_matches(name, CHANNELS, n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise KeyError(f"unknown ARKit channel {name!r}{hint}") from None


def spell(name: str, spelling: Spelling = "pascal") -> str:
    """Write a canonical name in one of the three spellings (head channels stay PascalCase/camel)."""
    if spelling not in SPELLINGS:
        raise ValueError(f"unknown spelling {spelling!r}; valid: {list(SPELLINGS)}")
    canonical = canonical_name(name)
    if spelling == "pascal":
        return canonical
    camel = canonical[0].lower() + canonical[1:]
    if spelling == "camel" or canonical in HEAD_POSE:
        return camel
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if camel.endswith(side):
            return camel[: -len(side)] + suffix
    return camel


class ArkitSpace:
    """Vectors <-> named channels, value ranges, and neutral pose of the ARKit motion space."""

    name = "arkit"
    dim = ARKIT_DIM
    channels = CHANNELS

    @staticmethod
    def index(name: str) -> int:
        return INDEX[canonical_name(name)]

    @staticmethod
    def neutral(frames: int = 1) -> np.ndarray:
        return np.zeros((frames, ARKIT_DIM), np.float32)

    @staticmethod
    def from_dicts(frames: Iterable[Mapping[str, float]], strict: bool = True) -> np.ndarray:
        """Named frames (any spelling) -> (T, 58); channels not given stay 0 (neutral)."""
        rows = []
        for i, frame in enumerate(frames):
            row = np.zeros(ARKIT_DIM, np.float32)
            for name, value in frame.items():
                try:
                    row[INDEX[canonical_name(name)]] = float(value)
                except KeyError:
                    if strict:
                        raise KeyError(f"frame {i}: unknown ARKit channel {name!r}") from None
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, ARKIT_DIM), np.float32)

    @staticmethod
    def to_dict(frame: np.ndarray, spelling: Spelling = "pascal") -> dict[str, float]:
        """(58,) -> {name: value} in the chosen spelling."""
        return {spell(n, spelling): float(v) for n, v in zip(CHANNELS, frame, strict=True)}

    @staticmethod
    def clamp(frames: np.ndarray) -> np.ndarray:
        """Blendshapes into 0..1; head pose untouched. (..., 58) -> (..., 58)."""
        out = np.array(frames, np.float32, copy=True)
        out[..., :NUM_BLENDSHAPES] = np.clip(out[..., :NUM_BLENDSHAPES], 0.0, 1.0)
        return out


MOUTH_PREFIXES: tuple[str, ...] = ("Jaw", "Mouth", "CheekPuff", "TongueOut")
# Mouth channels that carry facial expression rather than articulation: a smile, a dimple or a
# frown answers the partner, so guidance toward the user may push them (`speech_channel_indices`).
EXPRESSIVE_MOUTH_PREFIXES: tuple[str, ...] = ("MouthSmile", "MouthDimple", "MouthFrown")


def mouth_channel_indices(channels: tuple[str, ...] = CHANNELS) -> list[int]:
    """Indices of the jaw, mouth, cheek puff and tongue channels."""
    return [i for i, name in enumerate(channels) if name.startswith(MOUTH_PREFIXES)]


def speech_channel_indices(channels: tuple[str, ...] = CHANNELS) -> list[int]:
    """Indices of the channels that the avatar's own speech drives: the mouth channels but the
    smile, dimple and frown ones (the face's answers to its partner)."""
    return [
        i for i in mouth_channel_indices(channels) if not channels[i].startswith(EXPRESSIVE_MOUTH_PREFIXES)
    ]
