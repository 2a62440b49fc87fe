"""`TappedSession`: a `Session` that keeps its generated ARKit frames for the server's sinks.

The protocol's `motion` messages carry the client's chosen naming (ARKit, VRM, VTube Studio), and
only when the client asked for the `motion` output; sinks (VMC, VTube Studio, ...) need the
58-channel ARKit frames whatever the client chose. The session core keeps them when asked
(`keep_arkit_blocks`); `take_blocks()` hands them over after each `tick`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugin_server.session import Session

KEEP_BLOCKS = 256  # about 40 s of 4-frame blocks: far more than one tick produces


class TappedSession(Session):
    """A `Session` whose generated blocks (first frame, `(n, 58)` ARKit) can be taken after a tick."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("keep_arkit_blocks", KEEP_BLOCKS)
        super().__init__(*args, **kwargs)

    def take_blocks(self) -> list[tuple[int, np.ndarray]]:
        """The blocks generated since the last call: (first frame number, (n, 58) ARKit frames)."""
        return self.take_arkit_blocks()
