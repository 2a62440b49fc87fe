"""The key/value cache is pure memoisation: cached streaming equals uncached recomputation."""

import torch

from models.generator import Conditions
from models.generator.layers import apply_rope, rope_angles, timestep_features
from models.generator.masks import alignment_mask, streaming_self_mask
from models.generator.transformer import MotionGenerator

from .conftest import TINY, random_conditions, random_model


def _inputs(frames: int, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, frames, TINY.dim_motion, generator=g)
    t = torch.randint(0, 1000, (2, frames), generator=g).float()
    ref = torch.randn(2, TINY.dim_motion, generator=g)
    return x, t, ref


def test_timestep_features_cosines_first() -> None:
    f = timestep_features(torch.tensor([0.0, 3.0]), dim=8)
    assert torch.equal(f[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    assert torch.allclose(f[1, 0], torch.cos(torch.tensor(3.0)))
    assert torch.allclose(f[1, 4], torch.sin(torch.tensor(3.0)))


def test_rope_scores_depend_only_on_position_differences() -> None:
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(pq: int, pk: int) -> torch.Tensor:
        cq, sq = rope_angles(torch.tensor([pq]), 16)
        ck, sk = rope_angles(torch.tensor([pk]), 16)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum()

    assert torch.allclose(score(7, 3), score(1007, 1003), atol=1e-4)
    assert torch.allclose(score(7, 3), score(4, 0), atol=1e-6)
    assert not torch.allclose(score(7, 3), score(7, 4), atol=1e-3)


def test_cached_forward_equals_uncached_recomputation() -> None:
    model = random_model()
    n, p = 17, 9  # prefix of 9 frames cached, then 8 new frames
    x, t, ref = _inputs(n)
    cond = random_conditions(TINY, n, batch=2)
    kv = model.cross_kv(model.encode_conditions(cond))
    align = alignment_mask(n, n, TINY.cond_window)
    with torch.no_grad():
        prefix = model(x[:, :p], t[:, :p], ref, kv, align[:p], streaming_self_mask(0, p, 2))
        suffix = model(
            x[:, p:], t[:, p:], ref, kv, align[p:], streaming_self_mask(p, n - p, 2), past=prefix.new_kv
        )
        # Uncached: one forward over all frames; the prefix rows see only the prefix, as when it was cached.
        mask = streaming_self_mask(0, n, 2)
        mask[:p, p:] = False
        full = model(x, t, ref, kv, align, mask)
    assert torch.allclose(full.velocity[:, p:], suffix.velocity, atol=1e-5)
    assert torch.allclose(full.velocity[:, :p], prefix.velocity, atol=1e-5)
    for (fk, fv), (sk, sv) in zip(full.new_kv, suffix.new_kv, strict=True):
        assert torch.allclose(fk[:, :, p:], sk, atol=1e-5) and torch.allclose(fv[:, :, p:], sv, atol=1e-5)


def test_kv_only_pass_returns_the_same_keys() -> None:
    model = random_model()
    x, t, ref = _inputs(8)
    cond = random_conditions(TINY, 8, batch=2)
    kv = model.cross_kv(model.encode_conditions(cond))
    args = (x, t, ref, kv, alignment_mask(8, 8, 2), streaming_self_mask(0, 8, 2))
    with torch.no_grad():
        full, only = model(*args), model(*args, kv_only=True)
    assert only.velocity is None
    for (a, b), (c, d) in zip(full.new_kv, only.new_kv, strict=True):
        assert torch.allclose(a, c) and torch.allclose(b, d)


def test_lookahead_is_limited_to_two_frames() -> None:
    """Changing frame 10 must not change frames < 8 of a single-layer forward's output."""
    model = random_model(TINY.replace(depth=1))
    x, t, ref = _inputs(16)
    cond = random_conditions(TINY, 16, batch=2)
    kv = model.cross_kv(model.encode_conditions(cond))
    args = (alignment_mask(16, 16, 2), streaming_self_mask(0, 16, 2))
    x2 = x.clone()
    x2[:, 10] += 1.0
    with torch.no_grad():
        a = model(x, t, ref, kv, *args).velocity
        b = model(x2, t, ref, kv, *args).velocity
    diff = (a - b).abs().amax(dim=(0, 2))
    assert (diff[:8] < 1e-6).all() and (diff[8:11] > 1e-6).all()


def test_blockwise_condition_tokens_match_streamed_windows() -> None:
    model = random_model()
    cond = random_conditions(TINY, 13)
    with torch.no_grad():
        tokens = model.encode_conditions_blockwise(cond, 5)
        first = model.encode_conditions(cond.slice(0, 5))
        second = model.encode_conditions(cond.slice(3, 10))  # 2 context frames + block 5..9
        last = model.encode_conditions(cond.slice(8, 13))
    assert tokens.shape == (1, 13, TINY.hidden)
    assert torch.allclose(tokens[:, :5], first)
    assert torch.allclose(tokens[:, 5:10], second[:, 2:])
    assert torch.allclose(tokens[:, 10:], last[:, 2:])
    assert not torch.allclose(tokens, model.encode_conditions(cond), atol=1e-4)


def test_user_skip_path_is_optional_and_carries_user_motion() -> None:
    import dataclasses

    from models.generator.conditions import Conditions

    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, user_skip=True)
    model = MotionGenerator(cfg)
    assert model.cond_encoder.user_skip is not None
    assert MotionGenerator(TINY).cond_encoder.user_skip is None  # the release's layout by default
    cond = random_conditions(cfg, 6)
    base = model.encode_conditions(cond)  # (B, T, hidden)
    nn_skip = model.cond_encoder.user_skip
    torch.nn.init.zeros_(nn_skip.weight)
    torch.nn.init.zeros_(nn_skip.bias)
    zeroed = model.encode_conditions(cond)
    other = Conditions(cond.avatar_audio, cond.user_audio, cond.user_motion + 1.0)
    assert not torch.allclose(base, zeroed)  # the skip contributes when its weights are not zero
    assert not torch.allclose(model.encode_conditions(other), zeroed)


def test_condition_context_widens_what_each_block_encodes() -> None:
    import dataclasses

    cfg = dataclasses.replace(TINY, cond_context_frames=7)
    assert cfg.condition_context == 7 and TINY.condition_context == TINY.context_frames
    model = random_model(cfg)
    cond = random_conditions(cfg, 18)
    with torch.no_grad():
        tokens = model.encode_conditions_blockwise(cond, 5)
        for start in (5, 10, 15):
            lo = max(0, start - 7)
            window = model.encode_conditions(cond.slice(lo, min(18, start + 5)))
            assert torch.allclose(tokens[:, start : start + 5], window[:, start - lo :], atol=1e-6)
        narrow = random_model(TINY).encode_conditions_blockwise(cond, 5)
    assert not torch.allclose(tokens, narrow, atol=1e-4)


def test_streaming_masks_keep_later_blocks_out_of_a_training_window() -> None:
    import dataclasses

    x, t, ref = _inputs(TINY.window_frames)
    cond = random_conditions(TINY, TINY.window_frames, batch=2)
    later = x.clone()
    later[:, TINY.block_frames :] += 1.0  # change every frame after the first block
    cond_later = random_conditions(TINY, TINY.window_frames, batch=2, seed=9)
    cond_later = Conditions.cat([cond.slice(0, TINY.block_frames), cond_later.slice(TINY.block_frames, None)])
    first = slice(0, TINY.block_frames)
    for streaming in (False, True):
        model = random_model(dataclasses.replace(TINY, streaming_masks=streaming))
        with torch.no_grad():
            # conditions encoded block by block, as training does (cond_chunk)
            v = model.forward_window(x, t, ref, cond, cond_chunk=TINY.block_frames)
            v_later = model.forward_window(later, t, ref, cond_later, cond_chunk=TINY.block_frames)
        # the first block's output ignores later frames only with the streaming masks
        assert torch.allclose(v[:, first], v_later[:, first], atol=1e-6) == streaming


def test_cross_position_bias_starts_as_the_release_and_can_single_out_a_frame() -> None:
    import dataclasses

    from models.generator.layers import CrossAttention

    x, t, ref = _inputs(TINY.window_frames)
    cond = random_conditions(TINY, TINY.window_frames, batch=2)
    plain = random_model(TINY)
    biased = MotionGenerator(dataclasses.replace(TINY, cross_position_bias=True)).eval()
    missing, unexpected = biased.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing == [f"blocks.{i}.cross_attn.position_bias" for i in range(TINY.depth)]
    with torch.no_grad():  # zero bias: the release's layer
        want = plain.forward_window(x, t, ref, cond)
        assert torch.allclose(want, biased.forward_window(x, t, ref, cond), atol=1e-5)
    # a large bias on offset 0 makes each frame read its own condition frame only
    attn = CrossAttention(8, 2, position_window=2)
    with torch.no_grad():
        attn.position_bias[:, 2] = 100.0
        tokens = torch.randn(1, 7, 8)
        k, v = attn.project_kv(tokens)
        mask = alignment_mask(4, 7, 2, key_offset=3)  # 3 cached condition frames, then the 4 queries'
        y = attn(torch.randn(1, 4, 8), (k, v), mask)
        own = attn.out(v[:, :, 3:].transpose(1, 2).flatten(2))  # values of keys 3..6
    assert torch.allclose(y, own, atol=1e-4)


def test_cross_position_bias_keeps_streaming_equal_to_recomputation() -> None:
    """Cached keys come first in a streamed call; the bias must read their offsets right."""
    import dataclasses

    model = random_model(dataclasses.replace(TINY, cross_position_bias=True))
    n, p = 17, 9
    x, t, ref = _inputs(n)
    cond = random_conditions(TINY, n, batch=2)
    kv = model.cross_kv(model.encode_conditions(cond))
    align = alignment_mask(n, n, TINY.cond_window)
    with torch.no_grad():
        prefix_kv = [(k[:, :, :p], v[:, :, :p]) for k, v in kv]  # the prefix call has no later keys
        prefix = model(x[:, :p], t[:, :p], ref, prefix_kv, align[:p, :p], streaming_self_mask(0, p, 2))
        suffix = model(
            x[:, p:], t[:, p:], ref, kv, align[p:], streaming_self_mask(p, n - p, 2), past=prefix.new_kv
        )
        mask = streaming_self_mask(0, n, 2)
        mask[:p, p:] = False
        cross = align.clone()
        cross[:p, p:] = False
        full = model(x, t, ref, kv, cross, mask)
        # moving the bias changes the output: the offsets are used
        for blk in model.blocks:
            blk.cross_attn.position_bias.add_(torch.linspace(-2.0, 2.0, 2 * TINY.cond_window + 1))
        moved = model(x, t, ref, kv, cross, mask)
    assert torch.allclose(full.velocity[:, p:], suffix.velocity, atol=1e-5)
    assert torch.allclose(full.velocity[:, :p], prefix.velocity, atol=1e-5)
    assert not torch.allclose(full.velocity, moved.velocity, atol=1e-3)
