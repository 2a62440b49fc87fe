"""The `frames` output: ARKit frames -> rendered, encoded images (sans I/O).

A session (or a watcher) owns one :class:`FrameRenderer`. `configure(name, options, fmt)` checks a
config's renderer choice and creates the renderer (once per distinct choice); `render(frames)`
turns `(n, 58)` ARKit frames into `(width, height, format, bytes)` tuples. Renderers come from a
factory (the server passes :func:`models.render.create_renderer`), so tests and embedders can swap
it. Bad choices become `ProtocolError`s naming what was wrong: an unknown renderer or option is
`bad_config`; a renderer whose package is missing is `unsupported`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.render import Renderer, RendererError, RendererUnavailableError, encode_image
from plugin_server.protocol import RenderedFrame
from plugin_server.protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

RendererFactory = Callable[..., Renderer]
"""`factory(name, **options) -> Renderer` (e.g. :func:`models.render.create_renderer`)."""

MAX_FRAME_SIDE = 1024  # a session's images are at most this wide and high (rendering runs per frame)


def renderer_available() -> bool:
    """Whether the renderers' drawing library (skia, the `render` extra) can be imported."""
    import importlib.util

    return importlib.util.find_spec("skia") is not None


class FrameRenderer:
    """One client's renderer and image format (see the module doc)."""

    def __init__(self, factory: RendererFactory, max_side: int = MAX_FRAME_SIDE) -> None:
        self._factory = factory
        self.max_side = max_side
        self._key: str | None = None
        self.renderer: Renderer | None = None
        self.format = "png"
        self._lock = threading.Lock()  # configure (event loop) vs render (a sender's worker thread)

    def configure(self, name: str, options: Mapping[str, Any], fmt: str, msg_id: int | None = None) -> None:
        """Use renderer `name` with `options`, encoding images as `fmt`; raises ProtocolError."""
        key = json.dumps([name, dict(options)], sort_keys=True, default=str)
        if key != self._key:
            try:
                renderer = self._factory(name, **dict(options))
            except RendererUnavailableError as e:
                raise ProtocolError(ErrorCode.UNSUPPORTED, str(e), msg_id) from None
            except RendererError as e:
                raise ProtocolError(ErrorCode.BAD_CONFIG, str(e), msg_id) from None
            width, height = renderer.size
            if max(width, height) > self.max_side:
                renderer.close()
                raise ProtocolError(
                    ErrorCode.BAD_CONFIG,
                    f"renderer images of {width}x{height} are too large: "
                    f"at most {self.max_side} pixels a side",
                    msg_id,
                )
            with self._lock:
                if self.renderer is not None:
                    self.renderer.close()
                self.renderer, self._key = renderer, key
            log.debug("renderer %s %s", name, dict(options))
        self.format = fmt

    def render(self, frames: np.ndarray) -> list[tuple[int, int, str, bytes]]:
        """(n, 58) ARKit frames -> n (width, height, format, data) images."""
        with self._lock:
            if self.renderer is None:
                raise RuntimeError("FrameRenderer.render before configure (or after close)")
            width, height = self.renderer.size
            fmt = self.format
            images = self.renderer.render_many(frames)
        return [(width, height, fmt, encode_image(img, fmt)) for img in images]

    def pending(self, frame: int, t: float, arkit: np.ndarray) -> PendingFrame:
        """A `rendered_frame` of the (58,) ARKit frame `arkit`, drawn only when it is sent."""
        width, height = self.renderer.size if self.renderer is not None else (0, 0)
        return PendingFrame(
            frame=frame,
            t=t,
            width=width,
            height=height,
            format=self.format,
            data=b"",
            arkit=arkit,
            source=self,
        )

    def close(self) -> None:
        with self._lock:
            if self.renderer is not None:
                self.renderer.close()
            self.renderer, self._key = None, None


@dataclass(frozen=True, kw_only=True)
class PendingFrame(RenderedFrame):
    """A `rendered_frame` not drawn yet. The session queues these (cheap); the adapter calls
    `materialize()` off the event loop right before sending, so drawing and encoding never run on
    the generation thread, and frames a slow client loses to the outbox are never drawn."""

    arkit: np.ndarray = field(repr=False, compare=False)  # (58,) the shaped ARKit frame
    source: FrameRenderer = field(repr=False, compare=False)

    def materialize(self) -> RenderedFrame:
        """The drawn, encoded `rendered_frame` (with the renderer and format current now)."""
        ((width, height, fmt, data),) = self.source.render(self.arkit[None])
        return RenderedFrame(frame=self.frame, t=self.t, width=width, height=height, format=fmt, data=data)


def materialize(msg: Any) -> Any:
    """`msg.materialize()` for a PendingFrame, else `msg` itself."""
    return msg.materialize() if isinstance(msg, PendingFrame) else msg


SERVER_ONLY_OPTIONS = frozenset({"image", "landmarks"})
"""Renderer options that name files on the server: clients may not set them (a client must not
make the server open arbitrary paths); the server's own `--renderer` spec does."""


def client_renderers(
    factory: RendererFactory, defaults: Mapping[str, Mapping[str, Any]] | None = None
) -> RendererFactory:
    """A factory for clients' configs: `defaults[name]` (the server's own options for a renderer,
    e.g. its portrait photo) fill in what the client did not set; file options are refused."""
    server_defaults = {k: dict(v) for k, v in (defaults or {}).items()}

    def make(name: str, **options: Any) -> Renderer:
        files = sorted(SERVER_ONLY_OPTIONS & set(options))
        if files:
            raise RendererError(
                f"renderer option(s) {files} name files on the server and are set by the server "
                "(avatar-forcing serve --renderer portrait:image=PHOTO), not by clients"
            )
        return factory(name, **{**server_defaults.get(str(name).strip().lower(), {}), **options})

    return make
