"""The webcam source: its message path without a camera, the missing-extra error, and (only where
mediapipe is installed: the optional `webcam` extra, not in CI) the face mesh on a real portrait."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from models.motion.arkit import ARKIT_DIM, INDEX
from plugin_server.capture import CaptureUnavailableError
from plugin_server.capture.face import FaceMapper
from plugin_server.capture.webcam import WebcamCapture, WebcamSource, import_mediapipe
from plugin_server.protocol import SessionConfig, UserMotion
from plugin_server.session import Session
from tests.helpers import small_random_model


def test_missing_extra_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(CaptureUnavailableError, match=r"pip install 'avatar-forcing\[webcam\]'"):
        import_mediapipe()


def test_queued_frames_become_user_motion_the_session_takes() -> None:
    capture = WebcamCapture(0)  # never started: the test fills its queue as the thread would
    source = WebcamSource(capture)
    assert source.poll() == []
    for k in range(3):
        frame = np.zeros(ARKIT_DIM, np.float32)
        frame[INDEX["JawOpen"]] = 0.2 * k
        capture.queue.put(frame)
    (msg,) = source.poll()
    assert isinstance(msg, UserMotion) and msg.seq == 0 and msg.names is None
    assert [row[INDEX["JawOpen"]] for row in msg.frames] == pytest.approx([0.0, 0.2, 0.4])
    session = Session("s", small_random_model(), 0.0, config=SessionConfig(vad="energy"))
    assert [o for o in session.handle(msg, 0.0) if o.TYPE == "error"] == []
    assert len(session._motion_q) == 3
    capture.queue.put(np.zeros(ARKIT_DIM, np.float32))
    assert source.poll()[0].seq == 1


def test_face_mesh_on_a_portrait() -> None:
    mp = pytest.importorskip("mediapipe", reason="the webcam extra (mediapipe==0.10.21) is not installed")
    data = pytest.importorskip("skimage.data")
    if not hasattr(mp, "solutions"):
        pytest.skip("this mediapipe ships no face-mesh model")
    from plugin_server.capture.webcam import FaceMeshTracker

    image = data.astronaut()
    tracker = FaceMeshTracker(static=True)
    try:
        landmarks = tracker.track(image)
    finally:
        tracker.close()
    assert landmarks is not None and landmarks.shape == (478, 3)
    mapper = FaceMapper(calibration_frames=1)
    h, w = image.shape[:2]
    frame = mapper(landmarks, w, h)
    assert frame is not None and np.isfinite(frame).all() and np.abs(frame).max() < 1e-3
