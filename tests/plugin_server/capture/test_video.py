"""Server-side face tracking of `user_video` frames (plugin_server/capture/video.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from models.motion.arkit import INDEX
from plugin_server.capture.video import VideoFaceTracker, decode_video_frame, video_tracking_available
from plugin_server.protocol import ProtocolError, UserVideo
from plugin_server.server.app import default_trackers

PORTRAIT = Path(__file__).resolve().parents[3] / "models" / "samples" / "astronaut.jpg"


def test_raw_frames_decode_without_any_library() -> None:
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    msg = UserVideo(seq=0, width=3, height=2, format="rgba32", data=rgba.tobytes())
    assert np.array_equal(decode_video_frame(msg), rgba[..., :3])
    rgb = rgba[..., :3].copy()
    msg = UserVideo(seq=0, width=3, height=2, format="rgb24", data=rgb.tobytes())
    assert np.array_equal(decode_video_frame(msg), rgb)


def test_no_mediapipe_no_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    assert not video_tracking_available() and default_trackers() is None


def test_tracking_a_portrait_sent_as_jpeg_frames() -> None:
    mp = pytest.importorskip("mediapipe", reason="the webcam extra (mediapipe==0.10.21) is not installed")
    cv2 = pytest.importorskip("cv2")
    if not hasattr(mp, "solutions"):
        pytest.skip("this mediapipe ships no face-mesh model")
    bgr = cv2.imread(str(PORTRAIT))
    h, w = bgr.shape[:2]

    def message(seq: int, image: np.ndarray) -> UserVideo:
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        return UserVideo(seq=seq, width=w, height=h, format="jpeg", data=data.tobytes())

    tracker = VideoFaceTracker(calibration_frames=3)
    try:
        got = [tracker.track(message(i, bgr)) for i in range(5)]
        assert got[:2] == [None, None] and all(g is not None for g in got[2:])  # calibrating, then frames
        rest = got[-1]
        assert np.isfinite(rest).all() and np.abs(rest[:52]).max() < 0.1  # the rest face
        # the same face rolled by 12 degrees: the tracker reports the roll (either sign convention
        # of the image rotation maps to one of the avatar's)
        centre = (w / 2, h * 0.4)
        rolled = cv2.warpAffine(
            bgr, cv2.getRotationMatrix2D(centre, 12, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE
        )
        frame = None
        for i in range(5, 10):
            frame = tracker.track(message(i, rolled))
        assert frame is not None and 8 < abs(frame[INDEX["HeadRoll"]]) < 16
        bad = UserVideo(seq=11, width=w, height=h, format="jpeg", data=b"not a jpeg")
        with pytest.raises(ProtocolError, match="not a jpeg image"):
            tracker.track(bad)
    finally:
        tracker.close()


def test_server_tracks_user_video_from_a_client() -> None:
    mp = pytest.importorskip("mediapipe", reason="the webcam extra (mediapipe==0.10.21) is not installed")
    cv2 = pytest.importorskip("cv2")
    if not hasattr(mp, "solutions"):
        pytest.skip("this mediapipe ships no face-mesh model")
    import asyncio

    from plugin_server.protocol import Error
    from plugin_server.server.client import AvatarClient
    from tests.helpers import small_random_model
    from tests.plugin_server.server.conftest import run, serving

    image = cv2.imread(str(PORTRAIT))
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    h, w = image.shape[:2]

    async def main() -> None:
        async with serving(small_random_model()) as server:
            client = AvatarClient(server.url)
            welcome = await client.connect()
            assert "input:user_video" in welcome.capabilities
            for seq in range(15):
                await client.send(UserVideo(seq=seq, width=w, height=h, format="jpeg", data=jpeg.tobytes()))
            await asyncio.sleep(1.0)
            session = server.registry.get(client.session_id)
            errors = []
            while True:
                try:
                    msg = await client.recv(timeout=0.2)
                except TimeoutError:
                    break
                if isinstance(msg, Error):
                    errors.append(msg)
            assert not errors
            assert session is not None and session.tracker.faces == 15  # every frame had the face
            await client.bye()

    run(main())
