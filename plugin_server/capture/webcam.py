"""The webcam (`serve --webcam`): MediaPipe Face Mesh on camera frames -> the session's user motion.

Needs the optional extra ``pip install 'avatar-forcing[webcam]'`` (mediapipe 0.10.21, the last
release whose wheel ships the face-mesh models; it brings OpenCV). mediapipe pins numpy < 2 and
protobuf < 5, so it is kept out of the other extras: install it in its own environment if other
packages there need numpy 2.

- `FaceMeshTracker`: one RGB image -> the ``(N, 3)`` normalised landmarks of the largest face, or
  None (`mp.solutions.face_mesh`, video mode: detection once, then tracking).
- `WebcamCapture`: a thread reads `cv2.VideoCapture` (a camera index, or a video file / URL),
  tracks each frame and maps it with `face.FaceMapper`; at a steady 25 fps it puts the latest
  ARKit frame (held when the camera is slower or the face is lost) into a bounded drop-oldest
  queue. Frames without a face keep the last frame; before calibration nothing is sent.
- `WebcamSource`: the `CaptureSource` of the server's local session: queued frames -> one
  `user_motion` message per poll (``seq`` +1 per message, all 58 channels in canonical order).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from plugin_server.protocol import ClientMessage, UserMotion
from plugin_server.sinks.base import DropOldestQueue

from .base import WEBCAM_HINT, CaptureUnavailableError
from .face import FaceMapper

log = logging.getLogger(__name__)


def import_mediapipe() -> tuple[Any, Any]:
    """(mediapipe, cv2), or `CaptureUnavailableError` naming the extra to install."""
    try:
        import cv2
        import mediapipe
    except ImportError as exc:
        raise CaptureUnavailableError(f"--webcam needs mediapipe and OpenCV ({exc}): {WEBCAM_HINT}") from exc
    if not hasattr(mediapipe, "solutions"):
        raise CaptureUnavailableError(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} ships no face-mesh model "
            f"(mp.solutions is gone): {WEBCAM_HINT} (it pins mediapipe==0.10.21)"
        )
    return mediapipe, cv2


class FaceMeshTracker:
    """MediaPipe Face Mesh on RGB images (``(H, W, 3)`` uint8) -> ``(N, 3)`` landmarks or None.

    Args:
        refine: 478 landmarks (irises: eye gaze) instead of 468.
        static: every image on its own (photos) instead of tracking a video.
    """

    def __init__(self, *, refine: bool = True, static: bool = False, min_confidence: float = 0.5) -> None:
        mp, _ = import_mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=1,
            refine_landmarks=refine,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def track(self, rgb: np.ndarray) -> np.ndarray | None:
        result = self._mesh.process(np.ascontiguousarray(rgb, np.uint8))
        faces = result.multi_face_landmarks
        if not faces:
            return None
        return np.array([(p.x, p.y, p.z) for p in faces[0].landmark], np.float64)

    def close(self) -> None:
        self._mesh.close()


class WebcamCapture:
    """Camera frames -> tracked ARKit frames at `fps` in a bounded queue (see the module doc).

    Args:
        device: camera index, or a video file path / stream URL (`cv2.VideoCapture` takes both).
        fps: rate of the ARKit frames put into the queue (the session's 25).
        queue_size: frames kept when the reader lags (oldest dropped, counted).
        mapper: landmarks -> ARKit (with its calibration); a fresh `FaceMapper` by default.
        loop: rewind a video file at its end (tests, demos).
    """

    def __init__(
        self,
        device: int | str = 0,
        *,
        fps: int = 25,
        queue_size: int = 50,
        mapper: FaceMapper | None = None,
        loop: bool = False,
    ) -> None:
        self.device = device
        self.fps = fps
        self.mapper = mapper or FaceMapper()
        self.loop = loop
        self.queue: DropOldestQueue[np.ndarray] = DropOldestQueue(queue_size)
        self.camera_frames = 0
        self.faces = 0
        self.emitted = 0
        self.track_ms = 0.0  # mean tracking time per camera frame
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cap: Any = None
        self._tracker: FaceMeshTracker | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        _, cv2 = import_mediapipe()
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            raise CaptureUnavailableError(
                f"webcam: cannot open camera {self.device!r} (no such camera, or it is in use); "
                "pass --webcam INDEX (0, 1, ...) or a video file"
            )
        self._cap = cap
        self._tracker = FaceMeshTracker()
        self._stop.clear()
        self.queue.reopen()
        self._thread = threading.Thread(target=self._run, name="webcam", daemon=True)
        self._thread.start()
        log.info("webcam: tracking camera %r at %d fps", self.device, self.fps)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(5.0)
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        self.queue.close()

    def _run(self) -> None:
        _, cv2 = import_mediapipe()
        period = 1.0 / self.fps
        next_emit = time.monotonic()
        latest: np.ndarray | None = None
        tracked_s = 0.0
        assert self._cap is not None and self._tracker is not None
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok:
                    if self.loop and self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        continue
                    log.warning("webcam: camera %r gave no frame; stopping", self.device)
                    break
                self.camera_frames += 1
                t0 = time.perf_counter()
                landmarks = self._tracker.track(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                if landmarks is not None:
                    self.faces += 1
                    height, width = bgr.shape[:2]
                    frame = self.mapper(landmarks, width, height)
                    if frame is not None:
                        latest = frame
                tracked_s += time.perf_counter() - t0
                self.track_ms = 1000.0 * tracked_s / self.camera_frames
                now = time.monotonic()
                if now - next_emit > 1.0:  # a stall: do not send a burst of held frames
                    next_emit = now
                while latest is not None and next_emit <= now:
                    self.queue.put(latest)
                    self.emitted += 1
                    next_emit += period
                if isinstance(self.device, str):  # a video file: play it at the session rate
                    time.sleep(max(0.0, next_emit - time.monotonic()))
        except Exception as exc:  # a camera or tracker failure ends capture, never the server
            self._error = exc
            log.exception("webcam: capture failed")

    def stats(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "camera_frames": self.camera_frames,
            "faces": self.faces,
            "calibrated": self.mapper.calibrated,
            "frames": self.emitted,
            "dropped": self.queue.dropped,
            "track_ms": round(self.track_ms, 2),
        }


class WebcamSource:
    """A `WebcamCapture` as a `CaptureSource`: queued frames -> `user_motion` messages."""

    name = "webcam"

    def __init__(self, capture: WebcamCapture, max_frames: int = 50) -> None:
        self.capture = capture
        self.max_frames = max_frames
        self._seq = 0

    def start(self) -> None:
        self.capture.start()

    def stop(self) -> None:
        self.capture.stop()

    def poll(self) -> list[ClientMessage]:
        frames: list[list[float]] = []
        queue = self.capture.queue
        while len(frames) < self.max_frames and len(queue):
            try:
                frames.append([float(v) for v in queue.get(0)])
            except Exception:  # emptied or closed meanwhile
                break
        if not frames:
            return []
        msg = UserMotion(seq=self._seq, frames=frames, names=None)
        self._seq += 1
        return [msg]

    def stats(self) -> dict[str, Any]:
        return {**self.capture.stats(), "messages": self._seq}
