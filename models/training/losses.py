"""Training objectives of the motion generator: diffusion forcing (stage 1) and DPO (stage 2).

Conventions follow `models.generator.schedule` (rectified flow): sigma = t / num_train_timesteps,
x_t = (1 - sigma) x_clean + sigma noise, and the network predicts the velocity noise - x_clean.

* `diffusion_forcing_loss`: every block of `block_frames` frames draws its own timestep; the error
  is L1, weighted per frame by the bell-shaped `timestep_weight` (mean 1); the three condition
  streams and the reference motion are dropped per sample (classifier-free guidance training).
* `dpo_loss`: Diffusion-DPO with a synthetic losing sample. Winner and loser are noised with the
  SAME `NoiseDraw` and scored under the same full condition (no dropout), by the trained policy and
  by a frozen reference model:
      L = -mean log sigmoid(-beta [(err_theta(w) - err_ref(w)) - (err_theta(l) - err_ref(l))]).
  err(m) is the per-sample MEAN absolute velocity error over frames and channels (the paper's L1
  norm, scaled to be independent of the window size so that beta = 1000 carries over); by default
  it is NOT timestep-weighted (the paper's err is the plain L1 norm), see `weighted`.
* `finetune_loss`: L = L_DF(winner) + dpo_weight * L_DPO, dpo_weight (lambda) = 0.1.

Every function takes an optional `torch.Generator` so that a training step is reproducible.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..generator.conditions import Conditions, drop_conditions, drop_reference
from ..generator.config import GeneratorConfig
from ..generator.schedule import interpolate, sample_block_timesteps, timestep_weight, velocity_target
from ..generator.transformer import MotionGenerator

M = TypeVar("M", bound=nn.Module)
DF_NORMS = ("l1", "l2")


@dataclass
class NoiseDraw:
    """One noising draw of a training window, shareable between samples (winner and loser)."""

    noise: torch.Tensor  # (B, T, D) standard gaussian
    timesteps: torch.Tensor  # (B, T) float, integer values in [0, num_train_timesteps), per block

    def __post_init__(self) -> None:
        if self.noise.dim() != 3 or self.timesteps.dim() != 2:
            raise ValueError(
                f"NoiseDraw wants noise (B, T, D) and timesteps (B, T); got "
                f"{tuple(self.noise.shape)} and {tuple(self.timesteps.shape)}"
            )
        if tuple(self.noise.shape[:2]) != tuple(self.timesteps.shape):
            raise ValueError(
                f"noise {tuple(self.noise.shape)} and timesteps {tuple(self.timesteps.shape)} "
                "disagree on (B, T)"
            )

    def sigma(self, num_train_timesteps: int) -> torch.Tensor:
        """Per-frame noise level, (B, T, 1), broadcastable against (B, T, D)."""
        return (self.timesteps / float(num_train_timesteps))[..., None]

    def noised(self, x_clean: torch.Tensor, num_train_timesteps: int) -> torch.Tensor:
        """x_t for clean motion x_clean (B, T, D) under this draw."""
        self._check(x_clean)
        return interpolate(x_clean, self.noise, self.sigma(num_train_timesteps))  # (B, T, D)

    def target(self, x_clean: torch.Tensor) -> torch.Tensor:
        """The velocity target noise - x_clean, (B, T, D)."""
        self._check(x_clean)
        return velocity_target(x_clean, self.noise)

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape) != tuple(self.noise.shape):
            raise ValueError(f"motion {tuple(x.shape)} does not match the draw {tuple(self.noise.shape)}")


def draw_noise(
    x_like: torch.Tensor, config: GeneratorConfig, generator: torch.Generator | None = None
) -> NoiseDraw:
    """Draw per-block timesteps and gaussian noise for motion shaped like `x_like` (B, T, D).

    Random numbers come from `generator` (drawn on the generator's device; the global RNG of
    `x_like`'s device when None) in a fixed order: timesteps first, then noise. The result lives
    on `x_like`'s device; noise has its dtype, timesteps are float32.
    """
    b, n, d = x_like.shape
    dev = generator.device if generator is not None else x_like.device
    t = sample_block_timesteps(
        b, n, config.block_frames, config.num_train_timesteps, generator=generator, device=dev
    )  # (B, T)
    noise = torch.randn(b, n, d, generator=generator, device=dev, dtype=x_like.dtype)  # (B, T, D)
    return NoiseDraw(noise=noise.to(x_like.device), timesteps=t.to(x_like.device))


def _resolve_draw(
    x: torch.Tensor, config: GeneratorConfig, draw: NoiseDraw | None, generator: torch.Generator | None
) -> NoiseDraw:
    return draw if draw is not None else draw_noise(x, config, generator)


def diffusion_forcing_loss(
    model: MotionGenerator,
    x_clean: torch.Tensor,  # (B, T, D) clean avatar motion
    cond: Conditions,  # (B, T, .) condition features
    ref: torch.Tensor,  # (B, D) reference motion
    *,
    draw: NoiseDraw | None = None,
    generator: torch.Generator | None = None,
    dropout: bool = True,
    cond_chunk: int | None = None,
    norm: str = "l1",
    frame_weight: torch.Tensor | None = None,  # (B, T) extra per-frame weights (1 = plain)
    channel_weight: torch.Tensor | None = None,  # (D,) per-channel weights (1 = plain)
    element_weight: torch.Tensor | None = None,  # (B, T, D) extra weights per frame and channel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage-1 diffusion-forcing flow-matching loss.

    `norm` "l1" (the paper's) or "l2": L1 regresses the conditional MEDIAN of the velocity, L2
    its mean, which is what the flow needs to reproduce minority modes (a smile that answers
    the user's in some cases only).

    Returns (scalar loss, per-sample loss (B,)); the scalar is the mean of the per-sample losses.
    `draw` fixes noise and timesteps (else drawn from `generator`); with `dropout` each condition
    stream of each sample is zeroed with p = config.cond_dropout and the reference with
    p = config.ref_dropout (dropout random numbers come from `generator` after the draw).
    `cond_chunk` encodes conditions block by block as a realtime stream does (see forward_window).
    """
    c = model.config
    d = _resolve_draw(x_clean, c, draw, generator)
    if dropout:
        cond = drop_conditions(cond, c.cond_dropout, generator)
        ref = drop_reference(ref, c.ref_dropout, generator)
    x_t = d.noised(x_clean, c.num_train_timesteps)  # (B, T, D)
    v = model.forward_window(x_t, d.timesteps, ref, cond, cond_chunk)  # (B, T, D)
    if norm not in DF_NORMS:
        raise ValueError(f"unknown loss norm {norm!r}; valid: {list(DF_NORMS)}")
    diff = v - d.target(x_clean)
    err = diff.abs() if norm == "l1" else diff.square()  # (B, T, D)
    w = timestep_weight(d.timesteps, c.num_train_timesteps).to(err.dtype)  # (B, T)
    if frame_weight is not None:
        w = w * frame_weight.to(err.dtype)
    if channel_weight is not None:
        err = err * channel_weight.to(err)  # (B, T, D)
    if element_weight is not None:
        err = err * element_weight.to(err)  # (B, T, D)
    per_sample = (err * w[..., None]).mean(dim=(1, 2))  # (B,)
    return per_sample.mean(), per_sample


def reaction_weights(
    partner_smile: torch.Tensor,  # (B, T) the partner's (user's) smile, 0..1
    fps: float,
    weight: float,
    threshold: float = 0.15,
    start_s: float = 0.1,
    end_s: float = 1.0,
) -> torch.Tensor:
    """Per-frame loss weights (B, T): 1 + `weight` on the frames `start_s`..`end_s` after each
    onset of the partner's smile (a rise through `threshold`), 1 elsewhere. Answering a smile is
    a minority event in any window (a few frames in a few windows), so the plain loss barely sees
    it; this raises those frames' share without changing the target."""
    s = partner_smile
    onset = (s[:, 1:] >= threshold) & (s[:, :-1] < threshold)  # (B, T-1): rises at frame k+1
    onset = torch.cat([torch.zeros_like(onset[:, :1]), onset], dim=1).to(s.dtype)  # (B, T)
    a = math.ceil(start_s * fps - 1e-9)  # first lag (frames after the onset), inclusive
    b = max(a + 1, math.ceil(end_s * fps - 1e-9))  # last lag, exclusive
    frames = s.shape[1]
    span = torch.zeros_like(onset)
    for lag in range(a, b):  # frames lag after an onset
        if lag < frames:
            span[:, lag:] = torch.maximum(span[:, lag:], onset[:, : frames - lag])
    return 1.0 + weight * span


def viseme_weight_table(weights: Mapping[str, float]) -> torch.Tensor:  # (len(VISEMES),)
    """The loss weight of each viseme (`models.corpus.phones.VISEMES` order): `weights[v]` for
    the named ones, 1 for the others. ValueError for an unknown name or a negative weight."""
    from models.corpus.phones import VISEMES

    table = torch.ones(len(VISEMES), dtype=torch.float32)
    for name, value in weights.items():
        if name not in VISEMES:
            raise ValueError(f"unknown viseme {name!r}; valid: {list(VISEMES)}")
        if not value >= 0:
            raise ValueError(f"viseme weight of {name!r} must be >= 0 (got {value})")
        table[VISEMES.index(name)] = float(value)
    return table


def viseme_frame_weights(
    labels: torch.Tensor,  # (B, T) int64 viseme index of each frame (`models.corpus.phones.VISEMES`)
    weights: Mapping[str, float],  # viseme name -> loss weight of its frames
) -> torch.Tensor:  # (B, T)
    """Per-frame loss weights (B, T): `weights[v]` on the frames labelled with viseme `v`, 1 on
    the others. A lip closure (p/b/m, viseme "PP") lasts one to three frames, a small share of
    any window, and what decides whether it reads as a closure is a few frames' depth; this
    raises their share of the loss without changing the target."""
    return viseme_weight_table(weights).to(labels.device)[labels.long()]


def _velocity_errors(
    model: MotionGenerator,
    motions: list[torch.Tensor],  # each (B, T, D)
    cond: Conditions,
    ref: torch.Tensor,  # (B, D)
    draw: NoiseDraw,
    num_train_timesteps: int,
    weighted: bool,
    cond_chunk: int | None = None,
) -> list[torch.Tensor]:
    """Per-sample mean |v_target(m) - v_net(m_t, t, c)| for each motion m, in one batched forward."""
    k = len(motions)
    x = torch.cat(motions, dim=0)  # (kB, T, D)
    noise = draw.noise.repeat(k, 1, 1)  # (kB, T, D)
    t = draw.timesteps.repeat(k, 1)  # (kB, T)
    big = NoiseDraw(noise, t)
    v = model.forward_window(
        big.noised(x, num_train_timesteps),
        t,
        ref.repeat(k, 1),
        Conditions.cat([cond] * k, dim=0),
        cond_chunk,
    )  # (kB, T, D)
    err = (v - big.target(x)).abs()  # (kB, T, D)
    if weighted:
        err = err * timestep_weight(t, num_train_timesteps).to(err.dtype)[..., None]
    return list(err.mean(dim=(1, 2)).chunk(k, dim=0))  # k x (B,)


def dpo_loss(
    model: MotionGenerator,
    ref_model: MotionGenerator,
    winner: torch.Tensor,  # (B, T, D) preferred motion (ground truth)
    loser: torch.Tensor,  # (B, T, D) synthetic losing motion
    cond: Conditions,  # full conditions, never dropped here
    ref: torch.Tensor,  # (B, D) reference motion
    *,
    beta: float = 1000.0,
    draw: NoiseDraw | None = None,
    generator: torch.Generator | None = None,
    weighted: bool = False,
    cond_chunk: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Diffusion-DPO loss of `model` against the frozen `ref_model`.

    Winner and loser share one `NoiseDraw` (given, or drawn from `generator`) and the full
    condition. err is the per-sample mean L1 velocity error; with `weighted` it is multiplied per
    frame by `timestep_weight` first (default off: the method's err is the plain L1 norm). The
    reference is evaluated under `torch.no_grad`.

    Returns (scalar loss, stats). Stats (python floats): dpo_loss; reward_accuracy, the fraction
    of samples whose winner improvement over the reference beats the loser's (strictly, so 0 when
    model == ref); reward_margin, the mean of -[(err_theta(w) - err_ref(w)) - (err_theta(l) -
    err_ref(l))] (positive = prefers the winner); err_w, err_l, err_ref_w, err_ref_l (batch means).
    """
    if winner.shape != loser.shape:
        raise ValueError(f"winner {tuple(winner.shape)} and loser {tuple(loser.shape)} differ in shape")
    nt = model.config.num_train_timesteps
    d = _resolve_draw(winner, model.config, draw, generator)
    err_w, err_l = _velocity_errors(
        model, [winner, loser], cond, ref, d, nt, weighted, cond_chunk
    )  # (B,) each
    with torch.no_grad():
        ref_w, ref_l = _velocity_errors(ref_model, [winner, loser], cond, ref, d, nt, weighted, cond_chunk)
    diff = (err_w - ref_w) - (err_l - ref_l)  # (B,) negative = model moved toward the winner
    loss = -F.logsigmoid(-beta * diff).mean()
    margin = -diff.detach()
    stats = {
        "dpo_loss": float(loss.detach()),
        "reward_accuracy": float((margin > 0).float().mean()),
        "reward_margin": float(margin.mean()),
        "err_w": float(err_w.detach().mean()),
        "err_l": float(err_l.detach().mean()),
        "err_ref_w": float(ref_w.mean()),
        "err_ref_l": float(ref_l.mean()),
    }
    return loss, stats


def finetune_loss(
    model: MotionGenerator,
    ref_model: MotionGenerator,
    winner: torch.Tensor,  # (B, T, D)
    loser: torch.Tensor,  # (B, T, D)
    cond: Conditions,
    ref: torch.Tensor,  # (B, D)
    *,
    dpo_weight: float = 0.1,
    beta: float = 1000.0,
    draw: NoiseDraw | None = None,
    generator: torch.Generator | None = None,
    dropout: bool = True,
    weighted_dpo: bool = False,
    cond_chunk: int | None = None,
    norm: str = "l1",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Stage-2 objective L = L_DF(winner) + dpo_weight * L_DPO(winner, loser); `norm` is the DF
    term's (see diffusion_forcing_loss); the DPO term's err stays the paper's L1.

    One draw (given, or drawn from `generator`) serves both terms; the DF term applies condition
    and reference dropout (when `dropout`), the DPO term never does. Stats are those of `dpo_loss`
    plus df_loss and loss.
    """
    d = _resolve_draw(winner, model.config, draw, generator)
    l_df, _ = diffusion_forcing_loss(
        model,
        winner,
        cond,
        ref,
        draw=d,
        generator=generator,
        dropout=dropout,
        cond_chunk=cond_chunk,
        norm=norm,
    )
    l_dpo, stats = dpo_loss(
        model,
        ref_model,
        winner,
        loser,
        cond,
        ref,
        beta=beta,
        draw=d,
        weighted=weighted_dpo,
        cond_chunk=cond_chunk,
    )
    loss = l_df + dpo_weight * l_dpo
    stats = {**stats, "df_loss": float(l_df.detach()), "loss": float(loss.detach())}
    return loss, stats


def frozen_copy(model: M) -> M:
    """A deep copy of `model` in eval mode with every parameter's requires_grad off."""
    frozen = copy.deepcopy(model)
    frozen.eval()
    frozen.requires_grad_(False)
    return frozen
