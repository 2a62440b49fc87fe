"""ReferenceSampler (the plain official loop) against the fixture and against StreamingSampler."""

from __future__ import annotations

from typing import Protocol

import pytest
import torch

from models.generator.benchmark import randomize_weights
from models.generator.conditions import Conditions
from models.generator.config import GeneratorConfig, SamplerConfig, get_preset
from models.generator.official import convert_official_state_dict
from models.generator.parity import configs_from_fixture, load_fixture
from models.generator.reference import ReferenceSampler
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator

from .conftest import OFFICIAL_FIXTURE as FIXTURE


class _Sampler(Protocol):
    @property
    def next_block_frames(self) -> int: ...

    def reset(self, ref_motion: torch.Tensor) -> object: ...

    def step(
        self, cond: Conditions, noise: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


def _stream(
    sampler: _Sampler, cond: Conditions, ref: torch.Tensor, noise: list[torch.Tensor]
) -> torch.Tensor:
    """Whole recording block by block, condition frames clamped past the end (as the release)."""
    sampler.reset(ref)
    total, done, out = cond.frames, 0, []
    for block_noise in noise:
        if done >= total:
            break
        n = sampler.next_block_frames
        idx = torch.arange(done, done + n).clamp(max=total - 1)
        out.append(sampler.step(cond.index(idx), block_noise))
        done += n
    assert done >= total, "not enough noise blocks for the recording"
    return torch.cat(out, dim=1)[:, :total]


@pytest.mark.skipif(not FIXTURE.exists(), reason="parity fixture not available")
def test_reference_reproduces_official_fixture() -> None:
    data = load_fixture(FIXTURE)
    gen_cfg, sam_cfg = configs_from_fixture(dict(data["config"]))
    model = MotionGenerator(gen_cfg).eval()
    model.load_state_dict(convert_official_state_dict(data["state_dict"], model.state_dict(), gen_cfg))
    cond = Conditions(data["avatar_audio_feat"], data["user_audio_feat"], data["user_motion"])
    sample = _stream(ReferenceSampler(model, sam_cfg), cond, data["ref_motion"], list(data["block_noise"]))
    assert sample.shape == data["sample"].shape
    assert float((sample - data["sample"]).abs().max()) < 1e-4


def _random_setup(
    cfg: GeneratorConfig, frames: int, batch: int, seed: int
) -> tuple[MotionGenerator, Conditions, torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    model = randomize_weights(MotionGenerator(cfg), g).eval()
    cond = Conditions(
        torch.randn(batch, frames, cfg.dim_cond, generator=g),
        torch.randn(batch, frames, cfg.dim_cond, generator=g),
        torch.randn(batch, frames, cfg.dim_motion, generator=g),
    )
    ref = torch.randn(batch, cfg.dim_motion, generator=g)
    sizes = [cfg.window_frames] + [cfg.block_frames] * (-(-(frames - cfg.window_frames) // cfg.block_frames))
    noise = [torch.randn(batch, n, cfg.dim_motion, generator=g) for n in sizes]
    return model, cond, ref, noise


@pytest.mark.parametrize("guidance", [True, False])
def test_reference_equals_streaming_official(guidance: bool) -> None:
    cfg = get_preset("small").generator
    model, cond, ref, noise = _random_setup(cfg, frames=130, batch=2, seed=0)
    sam = SamplerConfig(schedule="official", guidance=guidance)
    ours = _stream(StreamingSampler(model, sam), cond, ref, noise)
    oracle = _stream(ReferenceSampler(model, sam), cond, ref, noise)
    assert ours.shape == (2, 130, cfg.dim_motion)
    assert torch.isfinite(ours).all()
    assert float(ours.std()) > 0.1  # the random model does something (not an identity on noise)
    assert float((ours[:, :50] - noise[0]).abs().max()) > 0.1  # not the noise passed through
    err = float((ours - oracle).abs().max())
    assert err < 1e-4, err


def test_reference_refuses_other_schedules_and_sizes() -> None:
    cfg = get_preset("small").generator.replace(depth=1, hidden=64, heads=2, dim_cond=32, cond_heads=2)
    model = MotionGenerator(cfg).eval()
    with pytest.raises(ValueError):
        ReferenceSampler(model, SamplerConfig(schedule="realtime"))
    with pytest.raises(ValueError, match="cond_lookahead"):
        ReferenceSampler(model, SamplerConfig(schedule="official", cond_lookahead=0))
    s = ReferenceSampler(model, SamplerConfig(schedule="official"))
    with pytest.raises(RuntimeError):
        s.step(Conditions.zeros(1, 50, cfg.dim_cond, cfg.dim_motion))
    s.reset(torch.zeros(1, cfg.dim_motion))
    assert s.next_block_frames == cfg.window_frames
    with pytest.raises(ValueError):
        s.step(Conditions.zeros(1, 10, cfg.dim_cond, cfg.dim_motion))
    s.step(Conditions.zeros(1, 50, cfg.dim_cond, cfg.dim_motion))
    assert s.next_block_frames == cfg.block_frames
    assert s.nbytes() > 0
