"""Numerical parity against fixtures recorded from the official implementation.

A fixture (torch.load(path, weights_only=True)) holds: config, state_dict (official names),
avatar_audio_feat / user_audio_feat / user_motion (B, T, .), ref_motion (B, D), block_noise (list),
sample (B, T, D), and forward_t / forward_x / forward_v (one training-layout window).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .conditions import Conditions
from .config import ConfigError, GeneratorConfig, SamplerConfig
from .official import convert_official_state_dict
from .sampler import StreamingSampler, stream_offline
from .transformer import MotionGenerator

SAMPLER_KEYS = {"nfe", "a_cfg_scale", "u_cfg_scale"}
REQUIRED = (
    "config",
    "state_dict",
    "avatar_audio_feat",
    "user_audio_feat",
    "user_motion",
    "ref_motion",
    "block_noise",
    "sample",
    "forward_t",
    "forward_x",
    "forward_v",
)


@dataclass
class ParityResult:
    sample_error: float
    forward_error: float
    frames: int
    blocks: int
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.sample_error <= self.tolerance and self.forward_error <= self.tolerance


def configs_from_fixture(cfg: dict[str, Any]) -> tuple[GeneratorConfig, SamplerConfig]:
    """Split a fixture's flat config into generator and sampler configs (unknown keys refused)."""
    gen_keys = set(GeneratorConfig.__dataclass_fields__)
    unknown = sorted(set(cfg) - gen_keys - SAMPLER_KEYS)
    if unknown:
        raise ConfigError(f"fixture config has unknown key(s) {unknown}")
    gen = GeneratorConfig.from_dict({k: v for k, v in cfg.items() if k in gen_keys})
    sam = SamplerConfig(schedule="official", **{k: v for k, v in cfg.items() if k in SAMPLER_KEYS})
    return gen, sam


def load_fixture(path: str | Path) -> dict[str, Any]:
    data = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: not a parity fixture, missing {missing}")
    return data


def run_parity(path: str | Path, tolerance: float = 1e-4) -> ParityResult:
    data = load_fixture(path)
    gen_cfg, sam_cfg = configs_from_fixture(dict(data["config"]))
    model = MotionGenerator(gen_cfg).eval()
    model.load_state_dict(convert_official_state_dict(data["state_dict"], model.state_dict(), gen_cfg))
    cond = Conditions(data["avatar_audio_feat"], data["user_audio_feat"], data["user_motion"])
    with torch.inference_mode():
        n = data["forward_x"].shape[1]
        window_cond = cond.index(torch.arange(n).clamp(max=cond.frames - 1))  # replicate-pad short streams
        v = model.forward_window(data["forward_x"], data["forward_t"], data["ref_motion"], window_cond)
        sample = stream_offline(
            StreamingSampler(model, sam_cfg), cond, data["ref_motion"], list(data["block_noise"])
        )
    return ParityResult(
        sample_error=float((sample - data["sample"]).abs().max()),
        forward_error=float((v - data["forward_v"]).abs().max()),
        frames=cond.frames,
        blocks=len(data["block_noise"]),
        tolerance=tolerance,
    )
