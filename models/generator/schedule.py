"""Flow-matching schedule: training interpolation, target and weighting; the sampler update.

Conventions (rectified flow, as the released checkpoints were trained):
sigma in [0, 1], timestep t = num_train_timesteps * sigma; x_t = (1 - sigma) x_clean + sigma noise;
the network predicts the velocity noise - x_clean.
"""

from __future__ import annotations

import math

import torch


def interpolate(x_clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) x_clean + sigma noise. x: (B, T, D); sigma broadcastable, e.g. (B, T, 1)."""
    return (1.0 - sigma) * x_clean + sigma * noise


def velocity_target(x_clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The regression target: noise - x_clean, (B, T, D)."""
    return noise - x_clean


def timestep_weight(t: torch.Tensor, num_train_timesteps: int = 1000) -> torch.Tensor:
    """Bell-shaped loss weight exp(-2 ((t - T/2) / T)^2), normalised to mean 1 over t in [0, T)."""
    n = float(num_train_timesteps)
    grid = torch.arange(num_train_timesteps, dtype=torch.float64)
    norm = torch.exp(-2.0 * ((grid - n / 2) / n) ** 2).mean().item()
    return torch.exp(-2.0 * ((t.to(torch.float32) - n / 2) / n) ** 2) / norm


def sample_block_timesteps(
    batch: int,
    num_frames: int,
    block_frames: int,
    num_train_timesteps: int = 1000,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Diffusion forcing: one integer timestep per block, shared by its frames. Returns (B, T)."""
    num_blocks = math.ceil(num_frames / block_frames)
    per_block = torch.randint(0, num_train_timesteps, (batch, num_blocks), generator=generator, device=device)
    return per_block.repeat_interleave(block_frames, dim=1)[:, :num_frames].to(torch.float32)


def sampling_timesteps(nfe: int, num_train_timesteps: int = 1000) -> list[float]:
    """Model-input timesteps of the official sampler: linspace(T, 0, nfe - 1) (nfe 10 -> 9)."""
    return torch.linspace(float(num_train_timesteps), 0.0, nfe - 1).tolist()


def sigma_for_timestep(t: float, num_train_timesteps: int = 1000) -> float:
    """Sigma of the grid entry nearest t on sigmas = linspace(1, 0, T) (grid timestep T * sigma).

    On an exact tie (t = 500 with T = 1000) the first entry, i.e. the larger sigma, wins.
    """
    sigmas = torch.linspace(1.0, 0.0, num_train_timesteps)  # float32, as the release
    dist = (sigmas.to(torch.float64) * num_train_timesteps - t).abs()
    idx = int(torch.nonzero(dist <= dist.min() + 1e-6)[0, 0])
    return float(sigmas[idx])


def flow_update(
    x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor
) -> torch.Tensor:
    """One sampler step per frame; frames whose sigma is 0 are returned unchanged.

    x, v: (B, T, D); sigma, sigma_next: (T,) or broadcastable to (B, T, 1).
    x0 = x - sigma v;  x_next = (s'/s) x + ((1 - s') - (s'/s)(1 - s)) x0.
    """
    if sigma.dim() == 1:
        sigma, sigma_next = sigma[None, :, None], sigma_next[None, :, None]
    active = sigma > 0
    safe = torch.where(active, sigma, torch.ones_like(sigma))
    x0 = x - sigma * v
    ratio = sigma_next / safe
    x_next = ratio * x + ((1.0 - sigma_next) - ratio * (1.0 - sigma)) * x0
    return torch.where(active, x_next, x)
