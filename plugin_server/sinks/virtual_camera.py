"""Virtual camera sink: rendered avatar frames into Zoom/Meet/Teams/OBS through pyvirtualcam.

Takes RGB or RGBA ``uint8`` images of shape ``(height, width, 3|4)`` through :meth:`submit_image`
(renderers come later; a ``renderer`` callable turning a :class:`MotionFrame` into such an image
can be given, it then runs on the sink's thread). A worker thread sends at the camera's own rate:
every ``1 / fps`` s it sends the newest image (older queued ones are dropped and counted) or, when
none arrived, repeats the last one (``repeat_last``) so the camera never freezes on a "no signal"
picture. RGBA images are composited over ``background`` for RGB cameras; only the Windows
``unitycapture`` backend takes RGBA natively (``fmt="rgba"``).

Backends: ``obs`` (OBS Studio's virtual camera, Windows/macOS), ``unitycapture`` (Windows),
``v4l2loopback`` (Linux kernel module), or any backend registered with
``pyvirtualcam.register_backend``. When none can open, ``start`` raises
:class:`SinkUnavailableError` saying what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import (
    PIP_HINT,
    MotionFrame,
    QueueClosedError,
    QueueEmptyError,
    SinkConfigError,
    SinkUnavailableError,
    ThreadedSink,
    register_sink,
)

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Install a virtual camera: on Windows or macOS, OBS Studio (26.1 or newer; press 'Start Virtual "
    "Camera' once so the device is registered, then stop it), or Unity Capture on Windows; on Linux, "
    "the v4l2loopback kernel module (Debian/Ubuntu: sudo apt install v4l2loopback-dkms && sudo modprobe "
    'v4l2loopback devices=1 exclusive_caps=1 card_label="Avatar Forcing").'
)

Renderer = Callable[[MotionFrame], np.ndarray]


def _import_pyvirtualcam() -> Any:
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise SinkUnavailableError(f"the virtual_camera sink needs pyvirtualcam: {PIP_HINT} ({exc})") from exc
    return pyvirtualcam


def registered_backends() -> list[str]:
    """Names of the pyvirtualcam backends available in this process."""
    from pyvirtualcam import camera

    return sorted(camera.BACKENDS)


def _parse_color(color: str) -> np.ndarray:
    text = color.strip().lstrip("#")
    if len(text) != 6:
        raise SinkConfigError(f"virtual_camera: background must be RRGGBB hex, got {color!r}")
    try:
        return np.array([int(text[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)
    except ValueError:
        raise SinkConfigError(f"virtual_camera: background must be RRGGBB hex, got {color!r}") from None


@register_sink("virtual_camera")
class VirtualCameraSink(ThreadedSink[Any]):
    """Send rendered frames to a virtual camera at a steady ``fps``.

    Args:
        width: frame width in pixels (images must match).
        height: frame height in pixels.
        fps: the camera's frame rate; the worker sends at exactly this rate.
        backend: pyvirtualcam backend name (``obs``, ``unitycapture``, ``v4l2loopback``, or a
            registered one); ``None`` tries all.
        device: the camera device (``/dev/video4``, ``OBS Virtual Camera``, ...); ``None``: any.
        fmt: ``rgb`` or ``rgba`` (unitycapture only).
        background: ``RRGGBB`` colour under transparent pixels when an RGBA image goes to an RGB
            camera.
        repeat_last: repeat the last image when no new one arrived in time.
        renderer: optional callable turning a motion frame into an image (runs on the worker).
        queue_size: images buffered before the oldest is dropped.
    """

    consumes = frozenset({"image"})  # and motion frames, through ``renderer``, when one is given

    def __init__(
        self,
        *,
        width: int = 512,
        height: int = 512,
        fps: float = 25.0,
        backend: str | None = None,
        device: str | None = None,
        fmt: str = "rgb",
        background: str = "000000",
        repeat_last: bool = True,
        renderer: Renderer | None = None,
        queue_size: int = 2,
    ) -> None:
        super().__init__(queue_size=queue_size, extra_counters=("repeated",))
        if width <= 0 or height <= 0 or fps <= 0:
            raise SinkConfigError("virtual_camera: width, height and fps must be positive")
        if fmt not in ("rgb", "rgba"):
            raise SinkConfigError(f"virtual_camera: fmt must be rgb or rgba, got {fmt!r}")
        self.width = int(width)
        self.height = int(height)
        self.fps = float(fps)
        self.backend = backend or None
        self.device = device or None
        self.fmt = fmt
        self.channels = 4 if fmt == "rgba" else 3
        self.repeat_last = repeat_last
        self.renderer = renderer
        self._background = _parse_color(background)
        self._pyvirtualcam = _import_pyvirtualcam()
        self._cam: Any = None
        self._warned_motion = False

    @property
    def camera_device(self) -> str | None:
        """The device the camera opened (after ``start``)."""
        return None if self._cam is None else str(self._cam.device)

    @property
    def camera_backend(self) -> str | None:
        return None if self._cam is None else str(self._cam.backend)

    # -- input
    def submit_image(self, image: np.ndarray) -> None:
        """Queue one rendered ``(height, width, 3|4)`` uint8 RGB(A) image; never blocks.

        Raises ``ValueError``/``TypeError`` at once for an image of the wrong size or dtype.
        """
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise TypeError(
                f"virtual_camera: expected a uint8 numpy image, got {getattr(image, 'dtype', image)!r}"
            )
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"virtual_camera: expected an image of shape ({self.height}, {self.width}, 3|4), "
                f"got {image.shape}"
            )
        self._enqueue(image.copy())

    def submit(self, frame: MotionFrame) -> None:
        """Motion frames are rendered with ``renderer`` when one is set, ignored otherwise."""
        if self.renderer is None:
            if not self._warned_motion:
                self._warned_motion = True
                log.debug("virtual_camera: no renderer set; motion frames are ignored (use submit_image)")
            return
        self._enqueue(frame)

    # -- ThreadedSink
    def _open(self) -> None:
        pvc = self._pyvirtualcam
        fmt = pvc.PixelFormat.RGBA if self.fmt == "rgba" else pvc.PixelFormat.RGB
        backends = registered_backends()
        if self.backend is not None and self.backend not in backends:
            raise SinkUnavailableError(
                f"virtual_camera: unknown backend {self.backend!r}; "
                f"registered backends: {backends or 'none'}. {INSTALL_HINT}"
            )
        try:
            self._cam = pvc.Camera(
                self.width, self.height, self.fps, fmt=fmt, backend=self.backend, device=self.device
            )
        except RuntimeError as exc:
            details = str(exc).strip() or "no backend is available on this platform"
            raise SinkUnavailableError(
                f"virtual_camera: no virtual camera could be opened ({details}). {INSTALL_HINT}"
            ) from exc
        except ValueError as exc:  # format / size refused by the backend
            raise SinkUnavailableError(f"virtual_camera: the camera refused the format: {exc}") from exc
        log.info(
            "virtual_camera: %s via %s, %dx%d @ %.3g fps",
            self._cam.device,
            self._cam.backend,
            self.width,
            self.height,
            self.fps,
        )

    def _to_camera(self, image: np.ndarray) -> np.ndarray:
        if image.shape[2] == self.channels:
            return image
        if self.channels == 4:  # RGB -> opaque RGBA
            out = np.empty((self.height, self.width, 4), np.uint8)
            out[..., :3] = image
            out[..., 3] = 255
            return out
        alpha = image[..., 3:4].astype(np.float32) / 255.0  # RGBA over the background
        rgb = image[..., :3].astype(np.float32) * alpha + self._background * (1.0 - alpha)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)

    def _prepare(self, item: Any) -> np.ndarray:
        if isinstance(item, MotionFrame):
            assert self.renderer is not None
            image = self.renderer(item)
            if image.shape[:2] != (self.height, self.width) or image.dtype != np.uint8:
                raise ValueError(
                    f"renderer returned {image.dtype} {image.shape}, expected uint8 "
                    f"({self.height}, {self.width}, 3|4)"
                )
            return self._to_camera(image)
        return self._to_camera(item)

    def _run(self) -> None:
        """Paced loop: one camera frame per ``1 / fps``: the newest image or a repeat."""
        last: np.ndarray | None = None
        while True:
            try:
                wait = None if (last is None or not self.repeat_last) else 0.0
                item, skipped = self._queue.get_latest(wait)
                if skipped:
                    self._counters.add("dropped", skipped)
            except QueueClosedError:
                return
            except QueueEmptyError:
                item = None
            repeated = item is None
            if item is not None:
                try:
                    last = self._prepare(item)
                except Exception as exc:
                    self._report_error("could not prepare the image", exc)
                    if last is None:
                        continue
                    repeated = True
            assert last is not None
            try:
                self._cam.send(last)
            except Exception as exc:
                self._report_error("camera send failed", exc)
            else:
                self._counters.add("repeated" if repeated else "sent")
            self._cam.sleep_until_next_frame()

    def _deliver(self, item: Any) -> None:  # unused: _run is overridden
        raise NotImplementedError

    def _close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
