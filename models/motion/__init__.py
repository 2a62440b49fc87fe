"""Motion spaces: what a frame of face motion is, its names, units and normalisation."""

from .arkit import ARKIT_BLENDSHAPES, ARKIT_DIM, HEAD_POSE, ArkitSpace, canonical_name
from .stats import MotionStats

__all__ = ["ARKIT_BLENDSHAPES", "ARKIT_DIM", "HEAD_POSE", "ArkitSpace", "MotionStats", "canonical_name"]
