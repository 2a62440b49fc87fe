"""Diffusion-forcing, DPO and fine-tune losses on tiny generators (CPU, fast)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.generator.conditions import Conditions
from models.generator.config import GeneratorConfig
from models.generator.schedule import interpolate, timestep_weight
from models.generator.transformer import MotionGenerator
from models.training import (
    NoiseDraw,
    diffusion_forcing_loss,
    dpo_loss,
    draw_noise,
    finetune_loss,
    frozen_copy,
)

CFG = GeneratorConfig(
    dim_motion=8, dim_cond=8, hidden=32, depth=2, heads=2, cond_heads=2, window_frames=20, block_frames=5
)
LOG2 = math.log(2.0)


def make_model(seed: int, cfg: GeneratorConfig = CFG) -> MotionGenerator:
    """A tiny generator whose zero-initialised (adaLN-Zero) layers are given random weights, so that
    its output depends on every input (the default init outputs exactly zero)."""
    torch.manual_seed(seed)
    model = MotionGenerator(cfg)
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for lin in (model.adaln, model.final_adaln, model.final_out):
            lin.weight.normal_(0.0, 0.1, generator=g)
            lin.bias.normal_(0.0, 0.02, generator=g)
    return model


def make_batch(
    batch: int, frames: int, seed: int = 0, cfg: GeneratorConfig = CFG
) -> tuple[torch.Tensor, torch.Tensor, Conditions, torch.Tensor]:
    """(winner (B, T, D), loser (B, T, D), conditions, reference (B, D))."""
    g = torch.Generator().manual_seed(seed)
    winner = torch.randn(batch, frames, cfg.dim_motion, generator=g)
    loser = torch.randn(batch, frames, cfg.dim_motion, generator=g)
    cond = Conditions(
        torch.randn(batch, frames, cfg.dim_cond, generator=g),
        torch.randn(batch, frames, cfg.dim_cond, generator=g),
        torch.randn(batch, frames, cfg.dim_motion, generator=g),
    )
    ref = torch.randn(batch, cfg.dim_motion, generator=g)
    return winner, loser, cond, ref


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Spy:
    """Wraps model.forward_window, recording every call's inputs."""

    def __init__(self, model: MotionGenerator) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, Conditions]] = []
        self._inner = model.forward_window
        model.forward_window = self  # type: ignore[method-assign]

    def __call__(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        ref: torch.Tensor,
        cond: Conditions,
        cond_chunk: int | None = None,
    ) -> torch.Tensor:
        self.calls.append((x.detach().clone(), t.detach().clone(), ref.detach().clone(), cond))
        return self._inner(x, t, ref, cond, cond_chunk)


def assert_block_constant(t: torch.Tensor, block: int) -> None:
    for start in range(0, t.shape[1], block):
        blk = t[:, start : start + block]
        assert torch.equal(blk, blk[:, :1].expand_as(blk)), f"block at {start} not shared"


# --- the noising draw ------------------------------------------------------------------------


def test_draw_noise_per_block_timesteps_and_reproducible() -> None:
    x = torch.zeros(16, 23, CFG.dim_motion)  # 23 frames: 4 full blocks of 5 and a partial one
    d = draw_noise(x, CFG, gen(1))
    assert d.noise.shape == (16, 23, CFG.dim_motion)
    assert d.timesteps.shape == (16, 23)
    assert d.timesteps.dtype == torch.float32
    assert_block_constant(d.timesteps, CFG.block_frames)
    assert torch.equal(d.timesteps, d.timesteps.round())
    assert d.timesteps.min() >= 0 and d.timesteps.max() < CFG.num_train_timesteps
    per_block = d.timesteps[:, :: CFG.block_frames]  # (B, 5)
    assert per_block.shape == (16, 5)
    # blocks of one sample draw their own timesteps (the chance of all-equal rows is negligible)
    assert (per_block != per_block[:, :1]).any(dim=1).all()
    assert 0.5 < d.noise.std() < 1.5
    again = draw_noise(x, CFG, gen(1))
    assert torch.equal(again.noise, d.noise) and torch.equal(again.timesteps, d.timesteps)
    other = draw_noise(x, CFG, gen(2))
    assert not torch.equal(other.noise, d.noise)
    assert not torch.equal(other.timesteps, d.timesteps)


def test_noise_draw_validates_shapes() -> None:
    with pytest.raises(ValueError):
        NoiseDraw(torch.zeros(2, 10, 8), torch.zeros(2, 9))
    with pytest.raises(ValueError):
        NoiseDraw(torch.zeros(2, 10), torch.zeros(2, 10))
    d = NoiseDraw(torch.zeros(2, 10, 8), torch.zeros(2, 10))
    with pytest.raises(ValueError):
        d.noised(torch.zeros(2, 10, 7), 1000)


# --- diffusion forcing -----------------------------------------------------------------------


def test_df_loss_is_finite_scalar_with_gradients() -> None:
    model = make_model(0)
    x, _, cond, ref = make_batch(4, 20)
    loss, per_sample = diffusion_forcing_loss(model, x, cond, ref, generator=gen(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert per_sample.shape == (4,)
    assert torch.allclose(loss, per_sample.mean())
    assert (per_sample > 0).all()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    for name in ("input_proj.weight", "final_out.weight", "blocks.0.self_attn.qkv.weight"):
        params = dict(model.named_parameters())
        if name in params:
            assert params[name].grad.abs().sum() > 0, name
    # the conditions path is trained too
    assert any(p.grad.abs().sum() > 0 for p in model.cond_encoder.parameters())


def test_df_loss_default_init_model_trains_output_layer() -> None:
    model = MotionGenerator(CFG)  # adaLN-Zero: output starts at exactly zero
    x, _, cond, ref = make_batch(2, 20)
    loss, _ = diffusion_forcing_loss(model, x, cond, ref, generator=gen(0))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.final_out.weight.grad.abs().sum() > 0


def test_df_loss_matches_manual_formula() -> None:
    model = make_model(0)
    x, _, cond, ref = make_batch(3, 20)
    d = draw_noise(x, CFG, gen(5))
    loss, per_sample = diffusion_forcing_loss(model, x, cond, ref, draw=d, dropout=False)
    sigma = (d.timesteps / CFG.num_train_timesteps)[..., None]
    with torch.no_grad():
        v = model.forward_window(interpolate(x, d.noise, sigma), d.timesteps, ref, cond)
    w = timestep_weight(d.timesteps, CFG.num_train_timesteps)[..., None]
    expected = ((v - (d.noise - x)).abs() * w).mean(dim=(1, 2))
    torch.testing.assert_close(per_sample.detach(), expected)
    torch.testing.assert_close(loss.detach(), expected.mean())


def test_df_loss_l2_is_the_weighted_squared_error() -> None:
    model = make_model(0)
    x, _, cond, ref = make_batch(2, 20)
    d = draw_noise(x, CFG, gen(6))
    _, per_sample = diffusion_forcing_loss(model, x, cond, ref, draw=d, dropout=False, norm="l2")
    sigma = (d.timesteps / CFG.num_train_timesteps)[..., None]
    with torch.no_grad():
        v = model.forward_window(interpolate(x, d.noise, sigma), d.timesteps, ref, cond)
    w = timestep_weight(d.timesteps, CFG.num_train_timesteps)[..., None]
    torch.testing.assert_close(per_sample.detach(), ((v - (d.noise - x)).square() * w).mean(dim=(1, 2)))
    with pytest.raises(ValueError, match="l1"):
        diffusion_forcing_loss(model, x, cond, ref, draw=d, norm="huber")


def test_df_loss_feeds_block_shared_timesteps_to_the_model() -> None:
    model = make_model(0)
    spy = Spy(model)
    x, _, cond, ref = make_batch(8, 20)
    diffusion_forcing_loss(model, x, cond, ref, generator=gen(3))
    (_, t, _, _) = spy.calls[0]
    assert t.shape == (8, 20)
    assert_block_constant(t, CFG.block_frames)
    assert (t[:, :: CFG.block_frames] != t[:, :1]).any()  # not one timestep for the whole window
    # a given draw is used as is
    d = draw_noise(x, CFG, gen(4))
    diffusion_forcing_loss(model, x, cond, ref, draw=d)
    assert torch.equal(spy.calls[1][1], d.timesteps)
    torch.testing.assert_close(spy.calls[1][0], d.noised(x, CFG.num_train_timesteps))


def test_df_dropout_with_zero_probability_changes_nothing() -> None:
    cfg = CFG.replace(cond_dropout=0.0, ref_dropout=0.0)
    model = make_model(0, cfg)
    x, _, cond, ref = make_batch(4, 20)
    d = draw_noise(x, cfg, gen(0))
    on, _ = diffusion_forcing_loss(model, x, cond, ref, draw=d, generator=gen(1), dropout=True)
    off, _ = diffusion_forcing_loss(model, x, cond, ref, draw=d, dropout=False)
    assert torch.equal(on, off)


def test_df_dropout_with_probability_one_zeroes_conditions_and_reference() -> None:
    cfg = CFG.replace(cond_dropout=1.0, ref_dropout=1.0)
    model = make_model(0, cfg)
    x, _, cond_a, ref_a = make_batch(4, 20, seed=0)
    _, _, cond_b, ref_b = make_batch(4, 20, seed=1)
    d = draw_noise(x, cfg, gen(0))
    la, _ = diffusion_forcing_loss(model, x, cond_a, ref_a, draw=d, generator=gen(1))
    lb, _ = diffusion_forcing_loss(model, x, cond_b, ref_b, draw=d, generator=gen(2))
    torch.testing.assert_close(la, lb)  # the model no longer sees cond or ref
    zeros = Conditions.zeros(4, 20, cfg.dim_cond, cfg.dim_motion)
    lz, _ = diffusion_forcing_loss(model, x, zeros, torch.zeros_like(ref_a), draw=d, dropout=False)
    torch.testing.assert_close(la, lz)
    # without dropout the same model does depend on them
    na, _ = diffusion_forcing_loss(model, x, cond_a, ref_a, draw=d, dropout=False)
    nb, _ = diffusion_forcing_loss(model, x, cond_b, ref_b, draw=d, dropout=False)
    assert (na - nb).abs() > 1e-4


def test_df_dropout_is_per_sample_and_per_stream() -> None:
    cfg = CFG.replace(cond_dropout=0.5, ref_dropout=0.5)
    model = make_model(0, cfg)
    spy = Spy(model)
    b = 64
    x, _, cond, ref = make_batch(b, 10)
    cond = Conditions(cond.avatar_audio + 5.0, cond.user_audio + 5.0, cond.user_motion + 5.0)  # no zeros
    diffusion_forcing_loss(model, x, cond, ref + 5.0, generator=gen(0))
    _, _, ref_seen, cond_seen = spy.calls[0]
    masks = []
    for stream in (cond_seen.avatar_audio, cond_seen.user_audio, cond_seen.user_motion):
        dropped = (stream == 0).all(dim=(1, 2))  # (B,)
        kept = (stream != 0).all(dim=(1, 2))
        assert torch.equal(dropped | kept, torch.ones(b, dtype=torch.bool))  # whole samples only
        assert 0.25 < dropped.float().mean() < 0.75
        masks.append(dropped)
    assert not (torch.equal(masks[0], masks[1]) and torch.equal(masks[1], masks[2]))  # independent
    ref_dropped = (ref_seen == 0).all(dim=1)
    assert 0.25 < ref_dropped.float().mean() < 0.75


def test_df_default_dropout_changes_the_loss() -> None:
    model = make_model(0)  # cond_dropout = ref_dropout = 0.1
    x, _, cond, ref = make_batch(32, 10)
    d = draw_noise(x, CFG, gen(0))
    on, _ = diffusion_forcing_loss(model, x, cond, ref, draw=d, generator=gen(1))
    off, _ = diffusion_forcing_loss(model, x, cond, ref, draw=d, dropout=False)
    assert (on - off).abs() > 1e-6


# --- DPO ------------------------------------------------------------------------------------


def test_dpo_identical_winner_and_loser_gives_log2() -> None:
    model, ref_model = make_model(0), frozen_copy(make_model(1))
    w, _, cond, ref = make_batch(4, 20)
    loss, stats = dpo_loss(model, ref_model, w, w.clone(), cond, ref, generator=gen(0))
    assert loss.item() == pytest.approx(LOG2, abs=1e-5)
    assert stats["reward_margin"] == pytest.approx(0.0, abs=1e-8)


def test_dpo_model_equal_to_reference_gives_log2_and_gradient() -> None:
    model = make_model(0)
    ref_model = frozen_copy(model)
    w, lo, cond, ref = make_batch(4, 20)
    loss, stats = dpo_loss(model, ref_model, w, lo, cond, ref, generator=gen(0))
    assert loss.item() == pytest.approx(LOG2, abs=1e-6)
    assert stats["dpo_loss"] == pytest.approx(LOG2, abs=1e-6)
    assert stats["reward_accuracy"] == 0.0
    assert stats["err_w"] == pytest.approx(stats["err_ref_w"], rel=1e-6)
    loss.backward()
    assert model.final_out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in ref_model.parameters())


def test_dpo_reference_is_evaluated_without_grad() -> None:
    model, ref_model = make_model(0), make_model(1)  # reference NOT frozen by the caller
    w, lo, cond, ref = make_batch(2, 20)
    loss, _ = dpo_loss(model, ref_model, w, lo, cond, ref, generator=gen(0))
    loss.backward()
    assert all(p.grad is None for p in ref_model.parameters())
    assert any(p.grad is not None for p in model.parameters())


def test_dpo_shares_noise_and_timesteps_between_winner_and_loser() -> None:
    model, ref_model = make_model(0), frozen_copy(make_model(1))
    spy = Spy(model)
    b = 3
    w, lo, cond, ref = make_batch(b, 20)
    dpo_loss(model, ref_model, w, lo, cond, ref, generator=gen(0))
    x_t = torch.cat([c[0] for c in spy.calls], 0)  # (2B, T, D): winner rows then loser rows
    t = torch.cat([c[1] for c in spy.calls], 0)
    assert x_t.shape[0] == 2 * b
    assert torch.equal(t[:b], t[b:])
    assert_block_constant(t, CFG.block_frames)
    sigma = (t / CFG.num_train_timesteps)[..., None]
    x = torch.cat([w, lo], 0)
    s = sigma.expand_as(x_t)  # (2B, T, D)
    keep = s > 0.05  # recover the noise where it is well conditioned
    noise = torch.where(keep, (x_t - (1 - s) * x) / s.clamp_min(0.05), torch.zeros_like(x_t))
    assert keep.any()
    torch.testing.assert_close(noise[:b], noise[b:], atol=1e-4, rtol=1e-4)
    # both are scored under the full condition (no dropout)
    cond_seen = torch.cat([c[3].avatar_audio for c in spy.calls], 0)
    torch.testing.assert_close(cond_seen, torch.cat([cond.avatar_audio] * 2, 0))


class _Oracle(nn.Module):
    """Predicts noise - target for every input: it fits `target` perfectly under the given draw."""

    def __init__(self, noise: torch.Tensor, target: torch.Tensor | None) -> None:
        super().__init__()
        self.config = CFG
        self.noise, self.target = noise, target

    def forward_window(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        ref: torch.Tensor,
        cond: Conditions,
        cond_chunk: int | None = None,
    ) -> torch.Tensor:
        if self.target is None:
            return torch.zeros_like(x)
        k = x.shape[0] // self.noise.shape[0]
        return (self.noise - self.target).repeat(k, 1, 1)


@pytest.mark.parametrize("beta", [1.0, 1000.0])
def test_dpo_matches_closed_form_and_sign(beta: float) -> None:
    w, lo, cond, ref = make_batch(4, 20)
    d = draw_noise(w, CFG, gen(0))
    n = d.noise
    reference = _Oracle(n, None)  # predicts zero velocity
    mean_abs = lambda a: a.abs().mean(dim=(1, 2))  # noqa: E731
    # policy that fits the winner: err_theta(w) = 0, err_theta(l) = |w - l|
    loss_w, stats_w = dpo_loss(_Oracle(n, w), reference, w, lo, cond, ref, beta=beta, draw=d)
    diff = (0.0 - mean_abs(n - w)) - (mean_abs(w - lo) - mean_abs(n - lo))
    expected = -torch.nn.functional.logsigmoid(-beta * diff).mean()
    torch.testing.assert_close(loss_w, expected)
    assert loss_w.item() < LOG2 and stats_w["reward_accuracy"] == 1.0 and stats_w["reward_margin"] > 0
    # mirrored: a policy that fits the loser is penalised
    loss_l, stats_l = dpo_loss(_Oracle(n, lo), reference, w, lo, cond, ref, beta=beta, draw=d)
    assert loss_l.item() > LOG2 and stats_l["reward_accuracy"] == 0.0 and stats_l["reward_margin"] < 0


class _Blend(nn.Module):
    """A real generator whose velocity is moved a fraction alpha toward noise - target.

    For the rows of `target` the error becomes exactly (1 - alpha) times the base model's; for any
    other motion the error drops by at most alpha times that (triangle inequality), so relative to
    the base model the blend always improves `target` at least as much as anything else.
    """

    def __init__(
        self, base: MotionGenerator, noise: torch.Tensor, target: torch.Tensor, alpha: float
    ) -> None:
        super().__init__()
        self.config = base.config
        self.base, self.noise, self.target, self.alpha = base, noise, target, alpha

    def forward_window(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        ref: torch.Tensor,
        cond: Conditions,
        cond_chunk: int | None = None,
    ) -> torch.Tensor:
        v = self.base.forward_window(x, t, ref, cond, cond_chunk)
        goal = (self.noise - self.target).repeat(x.shape[0] // self.noise.shape[0], 1, 1)
        return v + self.alpha * (goal - v)


def test_dpo_rewards_a_generator_perturbed_toward_the_winner() -> None:
    ref_model = frozen_copy(make_model(0))
    w, lo, cond, ref = make_batch(4, 20)
    d = draw_noise(w, CFG, gen(0))
    alpha = 0.2
    loss, stats = dpo_loss(_Blend(ref_model, d.noise, w, alpha), ref_model, w, lo, cond, ref, draw=d)
    assert stats["err_w"] == pytest.approx((1 - alpha) * stats["err_ref_w"], rel=1e-5)
    assert stats["err_w"] - stats["err_ref_w"] < stats["err_l"] - stats["err_ref_l"]
    assert stats["reward_accuracy"] == 1.0
    assert loss.item() < LOG2 - 0.1
    # mirrored: the generator perturbed toward the loser
    loss, stats = dpo_loss(_Blend(ref_model, d.noise, lo, alpha), ref_model, w, lo, cond, ref, draw=d)
    assert stats["reward_accuracy"] == 0.0
    assert loss.item() > LOG2 + 0.1


def test_dpo_training_moves_the_model_toward_the_winner() -> None:
    ref_model = frozen_copy(make_model(0))
    model = make_model(0)  # starts as a copy of the reference
    w, lo, cond, ref = make_batch(4, 20)
    d = draw_noise(w, CFG, gen(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, margins = [], []
    for _ in range(8):
        opt.zero_grad()
        loss, stats = dpo_loss(model, ref_model, w, lo, cond, ref, beta=1000.0, draw=d)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        margins.append(stats["reward_margin"])
    assert losses[0] == pytest.approx(LOG2, abs=1e-6)
    with torch.no_grad():
        loss, stats = dpo_loss(model, ref_model, w, lo, cond, ref, draw=d)
    assert loss.item() < LOG2 - 0.1
    assert stats["reward_margin"] > margins[0] + 1e-4
    assert stats["reward_accuracy"] == 1.0
    # relative to the reference, the winner's error moved down more than the loser's
    # (pure DPO may also get there by pushing the loser away; see the fine-tune test below)
    assert stats["err_w"] - stats["err_ref_w"] < stats["err_l"] - stats["err_ref_l"]


def test_finetune_training_lowers_the_winner_error_more_than_the_loser() -> None:
    ref_model = frozen_copy(make_model(0))
    model = make_model(0)
    w, lo, cond, ref = make_batch(4, 20)
    d = draw_noise(w, CFG, gen(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(8):
        opt.zero_grad()
        loss, _ = finetune_loss(model, ref_model, w, lo, cond, ref, draw=d, dropout=False)
        loss.backward()
        opt.step()
    with torch.no_grad():
        dpo, stats = dpo_loss(model, ref_model, w, lo, cond, ref, draw=d)
    delta_w = stats["err_w"] - stats["err_ref_w"]
    delta_l = stats["err_l"] - stats["err_ref_l"]
    assert delta_w < -1e-3  # the winner is fit better than by the reference
    assert delta_w < delta_l  # ... and the loser not as much better
    assert stats["reward_accuracy"] == 1.0
    assert dpo.item() < LOG2 - 0.1


def test_dpo_weighted_option_applies_timestep_weight() -> None:
    w, lo, cond, ref = make_batch(4, 20)
    d = draw_noise(w, CFG, gen(0))
    n = d.noise
    reference = _Oracle(n, None)
    policy = _Oracle(n, w)
    beta = 1.0
    loss, _ = dpo_loss(policy, reference, w, lo, cond, ref, beta=beta, draw=d, weighted=True)
    wt = timestep_weight(d.timesteps, CFG.num_train_timesteps)[..., None]
    werr = lambda a: (a.abs() * wt).mean(dim=(1, 2))  # noqa: E731
    diff = (0.0 - werr(n - w)) - (werr(w - lo) - werr(n - lo))
    torch.testing.assert_close(loss, -torch.nn.functional.logsigmoid(-beta * diff).mean())
    unweighted, _ = dpo_loss(policy, reference, w, lo, cond, ref, beta=beta, draw=d)
    assert (loss - unweighted).abs() > 1e-6


def test_dpo_rejects_mismatched_winner_and_loser() -> None:
    model = make_model(0)
    w, lo, cond, ref = make_batch(2, 20)
    with pytest.raises(ValueError):
        dpo_loss(model, frozen_copy(model), w, lo[:, :10], cond, ref)


# --- fine-tune objective --------------------------------------------------------------------


def test_finetune_loss_is_df_plus_weighted_dpo() -> None:
    model, ref_model = make_model(0), frozen_copy(make_model(1))
    w, lo, cond, ref = make_batch(3, 20)
    d = draw_noise(w, CFG, gen(0))
    total, stats = finetune_loss(model, ref_model, w, lo, cond, ref, draw=d, dropout=False)
    df, _ = diffusion_forcing_loss(model, w, cond, ref, draw=d, dropout=False)
    dpo, _ = dpo_loss(model, ref_model, w, lo, cond, ref, draw=d)
    torch.testing.assert_close(total, df + 0.1 * dpo)
    assert stats["df_loss"] == pytest.approx(df.item(), rel=1e-6)
    assert stats["dpo_loss"] == pytest.approx(dpo.item(), rel=1e-6)
    assert stats["loss"] == pytest.approx(total.item(), rel=1e-6)
    only_df, _ = finetune_loss(model, ref_model, w, lo, cond, ref, draw=d, dropout=False, dpo_weight=0.0)
    torch.testing.assert_close(only_df, df)
    total.backward()
    assert model.final_out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("batch", "frames"), [(1, 20), (1, 13), (3, 7), (2, 23)])
def test_losses_work_for_batch_one_and_partial_blocks(batch: int, frames: int) -> None:
    model = make_model(0)
    ref_model = frozen_copy(model)
    w, lo, cond, ref = make_batch(batch, frames)
    df, per_sample = diffusion_forcing_loss(model, w, cond, ref, generator=gen(0))
    assert per_sample.shape == (batch,) and torch.isfinite(df)
    dpo, _ = dpo_loss(model, ref_model, w, lo, cond, ref, generator=gen(0))
    assert dpo.item() == pytest.approx(LOG2, abs=1e-6)
    total, stats = finetune_loss(model, ref_model, w, lo, cond, ref, generator=gen(0))
    assert torch.isfinite(total) and math.isfinite(stats["reward_margin"])
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --- frozen copy ----------------------------------------------------------------------------


def test_frozen_copy_is_independent_eval_and_without_grad() -> None:
    model = make_model(0)
    model.train()
    frozen = frozen_copy(model)
    assert not frozen.training and model.training
    assert all(not p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in model.parameters())
    for (name, a), (_, b) in zip(model.named_parameters(), frozen.named_parameters(), strict=True):
        assert torch.equal(a, b), name
        assert a.data_ptr() != b.data_ptr(), name
    with torch.no_grad():
        model.final_out.weight.add_(1.0)
    assert not torch.equal(model.final_out.weight, frozen.final_out.weight)


def test_reaction_weights_mark_the_frames_after_a_smile_onset() -> None:
    from models.training.losses import reaction_weights

    smile = torch.zeros(2, 50)
    smile[0, 10:30] = 0.4  # an onset at frame 10
    smile[1, :] = 0.4  # smiling all along: no onset inside the window
    w = reaction_weights(smile, fps=25, weight=4.0)  # frames 0.1-1 s after: 10+3 .. 10+24
    assert w.shape == (2, 50)
    assert torch.all(w[0, 13:35] == 5.0) and torch.all(w[0, :13] == 1.0) and torch.all(w[0, 35:] == 1.0)
    assert torch.all(w[1] == 1.0)


def test_element_weights_scale_each_frame_and_channels_share_of_the_loss() -> None:
    model = make_model(0)
    x, _, cond, ref = make_batch(2, 10)
    draw = draw_noise(x, CFG, gen(1))

    def loss(**kw: torch.Tensor) -> torch.Tensor:
        return diffusion_forcing_loss(model, x, cond, ref, draw=draw, dropout=False, **kw)[0]

    plain = loss()
    ones = torch.ones_like(x)
    assert torch.allclose(loss(element_weight=ones), plain)
    assert torch.allclose(loss(element_weight=3 * ones), 3 * plain)
    one = torch.zeros_like(x)
    one[1, 4, 2] = 1.0  # a single element of the second sample
    part = loss(element_weight=one)
    assert 0 < part < plain
    assert torch.allclose(loss(element_weight=ones + one), plain + part)


def test_viseme_frame_weights_weigh_the_frames_of_each_named_viseme() -> None:
    from models.corpus.phones import VISEMES
    from models.training.losses import viseme_frame_weights

    pp, aa = VISEMES.index("PP"), VISEMES.index("aa")
    labels = torch.tensor([[0, pp, pp, aa, 0], [aa, aa, 0, pp, 0]])
    w = viseme_frame_weights(labels, {"PP": 5.0, "aa": 0.5})
    assert w.shape == (2, 5)
    assert w.tolist() == [[1.0, 5.0, 5.0, 0.5, 1.0], [0.5, 0.5, 1.0, 5.0, 1.0]]
    assert torch.equal(viseme_frame_weights(labels, {}), torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"unknown viseme 'P'.*'PP'"):
        viseme_frame_weights(labels, {"P": 2.0})
    with pytest.raises(ValueError, match=">= 0"):
        viseme_frame_weights(labels, {"PP": -1.0})


def test_channel_weights_scale_each_channels_share_of_the_loss() -> None:
    model = make_model(0)
    x, _, cond, ref = make_batch(2, 10)
    draw = draw_noise(x, CFG, gen(1))

    def loss(weight: torch.Tensor | None) -> torch.Tensor:
        return diffusion_forcing_loss(model, x, cond, ref, draw=draw, dropout=False, channel_weight=weight)[0]

    plain = loss(None)
    assert torch.allclose(loss(torch.ones(CFG.dim_motion)), plain)
    parts = [loss(torch.eye(CFG.dim_motion)[k]) for k in range(CFG.dim_motion)]
    assert torch.allclose(torch.stack(parts).sum(), plain, rtol=1e-5)  # the channels' shares add up
    heavy = torch.ones(CFG.dim_motion)
    heavy[3] = 10.0
    assert torch.allclose(loss(heavy), plain + 9.0 * parts[3], rtol=1e-5)
