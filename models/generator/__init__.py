"""The causal diffusion-forcing motion generator (Avatar Forcing)."""

from .conditions import Conditions
from .config import PRESETS, GeneratorConfig, SamplerConfig, get_preset
from .transformer import MotionGenerator

__all__ = [
    "PRESETS",
    "Conditions",
    "GeneratorConfig",
    "MotionGenerator",
    "SamplerConfig",
    "get_preset",
]
