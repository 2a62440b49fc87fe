"""Server-side face tracking of clients' `user_video` frames (capability `input:user_video`).

A client that cannot track faces itself (a browser page, a thin app) sends camera frames as
`user_video` messages (JPEG, PNG, raw RGB or RGBA); `VideoFaceTracker` turns each into a
`(58,)` ARKit frame with the same MediaPipe Face Mesh and `face.FaceMapper` as `serve --webcam`
(calibrated to the user's rest face over the first frames). One tracker per session: it keeps
the face mesh's tracking state and the user's calibration. The face mesh is created on the first
frame, so sessions that never send video cost nothing.

Needs the `webcam` extra (mediapipe, which brings OpenCV for JPEG/PNG decoding); without it the
server does not offer `input:user_video` and such messages get an `unsupported` error.
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np

from plugin_server.protocol import ErrorCode, ProtocolError, UserVideo

from .face import FaceMapper

log = logging.getLogger(__name__)


def video_tracking_available() -> bool:
    """Whether mediapipe and OpenCV can be imported (looked up without importing them)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("mediapipe", "cv2"))
    except (ImportError, ValueError):  # a module set to None in sys.modules (blocked), or broken
        return False


def decode_video_frame(msg: UserVideo) -> np.ndarray:
    """A `user_video` message -> (height, width, 3) uint8 RGB; ProtocolError(bad_value) if the
    bytes are not an image of the stated size."""
    if msg.format in ("rgb24", "rgba32"):
        channels = 3 if msg.format == "rgb24" else 4
        arr = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, channels)
        return np.ascontiguousarray(arr[..., :3])
    import cv2

    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ProtocolError(ErrorCode.BAD_VALUE, f"user_video: the data is not a {msg.format} image", msg.id)
    if bgr.shape[:2] != (msg.height, msg.width):
        raise ProtocolError(
            ErrorCode.BAD_VALUE,
            f"user_video: the image is {bgr.shape[1]}x{bgr.shape[0]}, "
            f"the message says {msg.width}x{msg.height}",
            msg.id,
        )
    return np.ascontiguousarray(bgr[..., ::-1])


class VideoFaceTracker:
    """The session `Tracker` for `user_video` (see the module doc)."""

    def __init__(self, calibration_frames: int = 10) -> None:
        self._mesh = None
        self.mapper = FaceMapper(calibration_frames=calibration_frames)
        self.frames = 0
        self.faces = 0

    def track(self, image: UserVideo) -> np.ndarray | None:
        """One camera frame -> a (58,) ARKit frame, or None (no face, or still calibrating)."""
        rgb = decode_video_frame(image)
        if self._mesh is None:
            from .webcam import FaceMeshTracker

            self._mesh = FaceMeshTracker()
        self.frames += 1
        landmarks = self._mesh.track(rgb)
        if landmarks is None:
            return None
        self.faces += 1
        return self.mapper(landmarks, rgb.shape[1], rgb.shape[0])

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
