"""`TappedSession`: a `Session` that also keeps its generated ARKit frames for the server's sinks.

The protocol's `motion` messages carry the client's chosen naming (ARKit, VRM, VTube Studio), and
only when the client asked for the `motion` output; sinks (VMC, VTube Studio, ...) need the
58-channel ARKit frames whatever the client chose. The session core has no public hook for them
yet, so this subclass wraps the session's motion shaper (the last step before the naming
mapping) and records each shaped block with its first frame number. `take_blocks()` hands them
over after each `tick`.

TODO(session core): replace with a public per-block hook (e.g. `Session.on_block(k0, arkit)`);
`tests/plugin_server/server/test_routing.py` fails loudly if the private names used here change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugin_server.protocol import BlinkConfig
from plugin_server.session import Session
from plugin_server.session.postprocess import MotionShaper


class _TapShaper:
    """Delegates to the session's `MotionShaper` and records what `apply` returns."""

    def __init__(self, inner: MotionShaper, session: TappedSession) -> None:
        self._inner = inner
        self._session = session

    def apply(self, frames: np.ndarray, intensity: float, blink: BlinkConfig) -> np.ndarray:
        out = self._inner.apply(frames, intensity, blink)
        # `Session._generate_block` shapes the block before advancing `next_frame`.
        self._session._blocks.append((self._session.next_frame, out))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TappedSession(Session):
    """A `Session` whose generated blocks (first frame, `(n, 58)` ARKit) can be taken after a tick.

    Same constructor and behaviour as `Session`; not thread-safe either (the server drives each
    session from one task, ticking it in the generation thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._blocks: list[tuple[int, np.ndarray]] = []
        super().__init__(*args, **kwargs)

    def _apply_pending(self) -> None:
        super()._apply_pending()
        shaper = self._shaper
        if shaper is not None and not isinstance(shaper, _TapShaper):
            self._shaper = _TapShaper(shaper, self)  # type: ignore[assignment]

    def take_blocks(self) -> list[tuple[int, np.ndarray]]:
        """The blocks generated since the last call: (first frame number, (n, 58) ARKit frames)."""
        blocks, self._blocks = self._blocks, []
        return blocks
