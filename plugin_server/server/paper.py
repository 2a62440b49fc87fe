"""`PaperServer`: `AvatarServer` serving `PaperSession`s (`serve --preset paper`).

Everything of the websocket adapter is reused (handshake, resume, ticker / generation thread,
sender, outbox, health, watchers); only the sessions differ: each one is a `TappedPaperSession`
on the server's shared `PaperServeSpec` (networks + the portrait, encoded once). Its frames are
decoded from motion latents in the sender's worker thread (`PaperPendingFrame.materialize`), one
batched decoder call per block, never on the event loop.

Not here (yet): the local session (`--mic` / `--webcam`), and sinks that take ARKit frames (VMC,
VTube Studio) or rendered ARKit frames (the virtual camera); `serve` refuses them with this preset.
Server-level sinks that take only the avatar's audio work as usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from plugin_server.session.paper import PaperServeSpec, PaperSession
from plugin_server.sinks import Sink

from .app import AvatarServer, ServerConfig
from .tap import TappedSession


class TappedPaperSession(PaperSession, TappedSession):
    """A `PaperSession` the server can drive (it hands no ARKit blocks to sinks: `take_blocks` is
    always empty)."""


class PaperServer(AvatarServer):
    """The avatar service on the paper's photoreal path (see the module doc)."""

    def __init__(
        self,
        spec: PaperServeSpec,
        config: ServerConfig | None = None,
        sinks: Sequence[Sink] = (),
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        bad = [s.name for s in sinks if set(getattr(s, "consumes", {"motion"})) - {"audio"}]
        if bad:
            raise ValueError(
                f"sink(s) {bad} take ARKit motion or rendered images: not available with the paper preset"
            )
        kwargs: dict[str, Any] = {"renderers": None, "trackers": None, "local": None}
        if clock is not None:
            kwargs["clock"] = clock
        # Each paper session steps alone: batching paper streams in one forward pass is untested.
        config = dataclasses.replace(config or ServerConfig(), max_batch=1)
        super().__init__(spec, config, sinks, **kwargs)  # type: ignore[arg-type]
        self.spec = spec

    def _new_session(self, session_id: str, now: float) -> TappedSession:
        return TappedPaperSession(
            session_id,
            self.spec,
            now,
            limits=self.config.limits,
            session_limits=self.config.session_limits,
        )

    def health(self) -> dict[str, Any]:
        out = super().health()
        out["preset"] = "paper"
        out["frame_size"] = self.spec.size
        return out
