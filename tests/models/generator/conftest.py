from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.generator import Conditions, GeneratorConfig, MotionGenerator

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
OFFICIAL_FIXTURE = SHARED / "fixtures" / "official_parity_small.pt"
MANIFEST = SHARED / "reference" / "official_checkpoint_manifest.json"

TINY = GeneratorConfig(
    dim_motion=6, dim_cond=8, hidden=32, depth=2, heads=2, cond_heads=2, window_frames=20, block_frames=5
)


def random_model(config: GeneratorConfig = TINY, seed: int = 0) -> MotionGenerator:
    """A model with every weight random (adaLN-Zero init would make the output trivial)."""
    torch.manual_seed(seed)
    model = MotionGenerator(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def random_conditions(config: GeneratorConfig, frames: int, batch: int = 1, seed: int = 1) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    return Conditions(
        torch.randn(batch, frames, config.dim_cond, generator=g),
        torch.randn(batch, frames, config.dim_cond, generator=g),
        torch.randn(batch, frames, config.dim_motion, generator=g),
    )


@pytest.fixture
def official_fixture_path() -> Path:
    if not OFFICIAL_FIXTURE.exists():
        pytest.skip(f"shared fixture not found at {OFFICIAL_FIXTURE}")
    return OFFICIAL_FIXTURE
