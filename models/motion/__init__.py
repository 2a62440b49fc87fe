"""Motion spaces: what a frame of face motion is, its names, units and normalisation.

`arkit` is plain numpy; `MotionStats` (torch) is imported on first use, so renderers and tools
that only need the channel names do not load torch.
"""

from typing import Any

from .arkit import ARKIT_BLENDSHAPES, ARKIT_DIM, HEAD_POSE, ArkitSpace, canonical_name

__all__ = ["ARKIT_BLENDSHAPES", "ARKIT_DIM", "HEAD_POSE", "ArkitSpace", "MotionStats", "canonical_name"]


def __getattr__(name: str) -> Any:
    if name == "MotionStats":
        from .stats import MotionStats

        return MotionStats
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
