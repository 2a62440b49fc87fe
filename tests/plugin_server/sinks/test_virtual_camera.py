"""The virtual camera sink through pyvirtualcam, with an in-process backend registered for the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

pyvirtualcam = pytest.importorskip(
    "pyvirtualcam", reason="the sinks extra is needed: pip install -e .[sinks]"
)

from models.motion.arkit import INDEX  # noqa: E402
from plugin_server.sinks import MotionFrame, SinkUnavailableError, create_sink  # noqa: E402
from plugin_server.sinks.virtual_camera import VirtualCameraSink, registered_backends  # noqa: E402


class RecordingBackend:
    """A pyvirtualcam backend (see pyvirtualcam.camera.Backend) that keeps what it is sent."""

    instances: ClassVar[list[RecordingBackend]] = []

    def __init__(
        self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any
    ) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "recorder0"
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        self.lock = threading.Lock()
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        with self.lock:
            self.frames.append(frame.copy())
            self.times.append(time.perf_counter())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int:
        return self.fourcc


@pytest.fixture
def backend() -> Iterator[type[RecordingBackend]]:
    pyvirtualcam.register_backend("test-recorder", RecordingBackend)
    RecordingBackend.instances.clear()
    try:
        yield RecordingBackend
    finally:
        pyvirtualcam.camera.BACKENDS.pop("test-recorder", None)


def test_frames_reach_the_backend_at_the_camera_rate(backend: type[RecordingBackend]) -> None:
    w, h = 64, 48
    sink = create_sink("virtual_camera", width=w, height=h, fps=25, backend="test-recorder")
    assert isinstance(sink, VirtualCameraSink)
    red = np.zeros((h, w, 3), np.uint8)
    red[..., 0] = 255
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[: h // 2, ..., 3] = 255  # top half opaque green, bottom half transparent
    with sink:
        assert sink.camera_backend == "test-recorder" and sink.camera_device == "recorder0"
        sink.submit_image(red)
        time.sleep(0.2)
        sink.submit_image(rgba)
        time.sleep(0.2)
        # a burst far faster than the camera: older images are dropped, the newest is shown
        for value in range(1, 11):
            img = np.full((h, w, 3), value, np.uint8)
            sink.submit_image(img)
        time.sleep(0.2)
    (cam,) = backend.instances
    assert cam.closed and (cam.width, cam.height, cam.fps) == (w, h, 25)
    frames = [f.reshape(h, w, 3) for f in cam.frames]
    assert (frames[0] == red).all()
    green = next(f for f in frames if f[0, 0, 1] == 200)
    assert (green[: h // 2, :, 1] == 200).all() and (green[h // 2 :] == 0).all()  # composited over black
    assert frames[-1][0, 0, 0] == 10  # the newest image of the burst
    stats = sink.stats
    assert stats.dropped >= 1 and stats.errors == 0
    assert stats.extra["repeated"] > 0  # kept the camera fed between new images
    assert stats.sent + stats.extra["repeated"] == len(cam.frames)
    # paced at the camera's fps: about 25 frames/s over ~0.6 s
    rate = (len(cam.times) - 1) / (cam.times[-1] - cam.times[0])
    assert 18 < rate < 30, rate


def test_renderer_and_rgba_camera(backend: type[RecordingBackend]) -> None:
    def render(frame: MotionFrame) -> np.ndarray:
        return np.full(
            (8, 8, 3), int(frame.values[INDEX["JawOpen"]] * 255), np.uint8
        )  # JawOpen as brightness

    sink = VirtualCameraSink(width=8, height=8, fps=50, backend="test-recorder", fmt="rgba", renderer=render)
    with sink:
        sink.submit(MotionFrame.from_named(0, 0.0, {"JawOpen": 1.0}))
        time.sleep(0.1)
    frame = backend.instances[0].frames[0].reshape(8, 8, 4)
    assert (frame[..., :3] == 255).all() and (frame[..., 3] == 255).all()


def test_bad_images_are_refused_at_once(backend: type[RecordingBackend]) -> None:
    sink = VirtualCameraSink(width=8, height=8, backend="test-recorder")
    with pytest.raises(ValueError, match=r"\(8, 8, 3\|4\)"):
        sink.submit_image(np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        sink.submit_image(np.zeros((8, 8, 3), np.float32))


def test_no_backend_says_what_to_install() -> None:
    # The real situation of this machine: pyvirtualcam's backends cannot open any device here
    # (v4l2loopback is not loaded in containers; OBS exists only on Windows/macOS).
    real = [b for b in registered_backends() if b != "test-recorder"]
    sink = VirtualCameraSink(width=64, height=48)
    try:
        sink.start()
    except SinkUnavailableError as exc:
        message = str(exc)
    else:  # a real virtual camera exists on this machine
        sink.stop()
        pytest.skip("a real virtual camera is available here")
    assert "OBS" in message and "v4l2loopback" in message and "modprobe" in message
    if "v4l2loopback" in real:
        assert "No v4l2 loopback device found" in message  # pyvirtualcam's own reason is kept
    with pytest.raises(SinkUnavailableError, match=r"unknown backend 'nonexistent'.*registered backends"):
        VirtualCameraSink(backend="nonexistent").start()


def test_serve_gives_the_camera_a_real_renderer(backend: type[RecordingBackend]) -> None:
    """`serve --sink virtual_camera --renderer cartoon`: the camera shows the cartoon at its size,
    its mouth following JawOpen."""
    pytest.importorskip("skia", reason="the render extra is needed: pip install -e .[render]")
    from models.render import create_renderer
    from plugin_server.cli.serve import _attach_renderers

    sink = create_sink("virtual_camera", width=128, height=96, fps=50, backend="test-recorder")
    _attach_renderers([sink], "cartoon")
    mouth = create_renderer("cartoon", width=128, height=96).regions()["mouth"]
    with sink:
        sink.submit(MotionFrame.from_named(0, 0.0, {}))
        time.sleep(0.15)
        sink.submit(MotionFrame.from_named(1, 0.04, {"JawOpen": 1.0}))
        time.sleep(0.15)
    cam = backend.instances[0]
    with cam.lock:
        frames = [f.reshape(96, 128, 3) for f in cam.frames]
    assert len(frames) >= 2
    x0, y0, x1, y1 = mouth
    closed, opened = frames[0][y0:y1, x0:x1].astype(int), frames[-1][y0:y1, x0:x1].astype(int)
    assert np.abs(opened - closed).mean() > 5  # the mouth opened on the camera
    assert frames[-1][0, 0].tolist() == [0, 0, 0]  # transparent corners over the black background
