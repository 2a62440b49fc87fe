import math

import pytest
import torch

from models.generator.schedule import (
    flow_update,
    interpolate,
    sample_block_timesteps,
    sampling_timesteps,
    sigma_for_timestep,
    timestep_weight,
    velocity_target,
)


def test_sampling_timesteps_official() -> None:
    assert sampling_timesteps(10) == [1000.0, 875.0, 750.0, 625.0, 500.0, 375.0, 250.0, 125.0, 0.0]


def test_sigma_lookup_nearest_grid_entry_and_tie() -> None:
    assert sigma_for_timestep(1000.0) == 1.0
    assert sigma_for_timestep(0.0) == 0.0
    grid = torch.linspace(1, 0, 1000)
    assert sigma_for_timestep(875.0) == pytest.approx(float(grid[125]))
    # exact tie at 500 between entries 499 and 500: the first (larger sigma) wins
    assert sigma_for_timestep(500.0) == pytest.approx(float(grid[499]))
    assert sigma_for_timestep(500.0) > 0.5


def test_interpolation_and_target() -> None:
    x0, n = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    s = torch.rand(2, 5, 1)
    xt = interpolate(x0, n, s)
    assert torch.allclose(xt, x0 + s * velocity_target(x0, n))
    assert torch.equal(interpolate(x0, n, torch.zeros(1)), x0)


def test_flow_update_with_true_velocity_lands_on_the_path() -> None:
    x0, n = torch.randn(1, 4, 3), torch.randn(1, 4, 3)
    sig = torch.tensor([0.0, 0.8, 0.8, 0.8])
    nxt = torch.tensor([0.0, 0.3, 0.3, 0.0])
    x = interpolate(x0, n, sig[None, :, None])
    out = flow_update(x, velocity_target(x0, n), sig, nxt)
    assert torch.allclose(out, interpolate(x0, n, nxt[None, :, None]), atol=1e-6)
    assert torch.equal(out[:, 0], x[:, 0])  # sigma 0: kept as is (context frames)
    assert torch.allclose(out[:, 3], x0[:, 3], atol=1e-6)  # to sigma 0: the clean estimate


def test_timestep_weight_bell_normalised() -> None:
    t = torch.arange(1000.0)
    w = timestep_weight(t)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert int(w.argmax()) == 500
    assert w[0] / w[500] == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_block_timesteps_shared_within_blocks() -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_block_timesteps(4, 23, 5, generator=g)
    assert t.shape == (4, 23)
    assert ((t >= 0) & (t < 1000)).all() and torch.equal(t, t.round())
    for b in range(5):
        blk = t[:, b * 5 : (b + 1) * 5]
        assert (blk == blk[:, :1]).all()
    assert len(torch.unique(t[:, ::5])) > 1
