import pytest
import torch

from models.generator import SamplerConfig
from models.generator.config import ConfigError
from models.generator.sampler import (
    StreamingSampler,
    audio_guidance_scale,
    stream_offline,
    user_guidance_scale,
)
from models.generator.transformer import MotionGenerator

from .conftest import TINY, random_conditions, random_model


class CountingModel:
    """Wraps a model's forward to count full and key/value-only evaluations."""

    def __init__(self, model: MotionGenerator) -> None:
        self.full = 0
        self.kv_only = 0
        original = model.forward

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs.get("kv_only"):
                self.kv_only += 1
            else:
                self.full += 1
            return original(*args, **kwargs)

        model.forward = counted  # type: ignore[method-assign]


def test_official_schedule_first_window_then_blocks() -> None:
    model = random_model()
    s = StreamingSampler(model, SamplerConfig(schedule="official"))
    s.reset(torch.zeros(1, TINY.dim_motion))
    assert s.next_block_frames == TINY.window_frames
    counter = CountingModel(model)
    out = s.step(random_conditions(TINY, TINY.window_frames))
    assert out.shape == (1, TINY.window_frames, TINY.dim_motion)
    # nfe 10 -> 9 evaluations; the t = 0 one doubles as the cache refresh
    assert (counter.full, counter.kv_only) == (9, 0)
    cache = s.cache
    assert cache is not None
    assert cache.cached_frames == TINY.window_frames - TINY.block_frames - TINY.context_frames
    assert cache.cached_cond_frames == TINY.cond_window and cache.num_context == TINY.context_frames
    assert s.next_block_frames == TINY.block_frames


def test_realtime_schedule_skips_the_noop_step() -> None:
    model = random_model()
    s = StreamingSampler(model, SamplerConfig(schedule="realtime", block_frames=3))
    s.reset(torch.zeros(2, TINY.dim_motion))
    assert s.next_block_frames == 3
    counter = CountingModel(model)
    out = s.step(random_conditions(TINY, 3, batch=2))
    assert out.shape == (2, 3, TINY.dim_motion)
    assert (counter.full, counter.kv_only) == (8, 1)


@pytest.mark.parametrize("block", [1, 2, 5, 10])
def test_realtime_cache_stays_bounded(block: int) -> None:
    model = random_model()
    s = StreamingSampler(model, SamplerConfig(schedule="realtime", block_frames=block, nfe=4))
    s.reset(torch.zeros(1, TINY.dim_motion))
    cond = random_conditions(TINY, 60)
    sizes = []
    for start in range(0, 60, block):
        out = s.step(cond.slice(start, start + block))
        assert torch.isfinite(out).all()
        c = s.cache
        assert c is not None
        assert c.cached_frames + c.num_context + block <= TINY.window_frames
        sizes.append(c.nbytes())
    assert len(set(sizes[-3:])) == 1
    assert s.cache is not None and s.cache.frames_done == len(range(0, 60, block)) * block


def test_seeded_streams_are_reproducible_and_noise_can_be_injected() -> None:
    model = random_model()
    cond = random_conditions(TINY, 23)
    ref = torch.randn(1, TINY.dim_motion)
    cfg = SamplerConfig(schedule="realtime", block_frames=5)
    a = stream_offline(StreamingSampler(model, cfg), cond, ref, generator=torch.Generator().manual_seed(7))
    b = stream_offline(StreamingSampler(model, cfg), cond, ref, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    noise = [torch.randn(1, 5, TINY.dim_motion, generator=g) for _ in range(5)]
    c = stream_offline(StreamingSampler(model, cfg), cond, ref, noise=noise)
    assert a.shape == (1, 23, TINY.dim_motion)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_short_recording_is_padded_and_cut() -> None:
    model = random_model()
    cond = random_conditions(TINY, 7)  # shorter than the 20-frame first window
    out = stream_offline(StreamingSampler(model, SamplerConfig(schedule="official")), cond, torch.zeros(1, 6))
    assert out.shape == (1, 7, TINY.dim_motion) and torch.isfinite(out).all()


def test_guidance_off_runs_one_branch() -> None:
    model = random_model()
    cond = random_conditions(TINY, 10)
    ref = torch.zeros(1, TINY.dim_motion)
    g = torch.Generator().manual_seed(0)
    on = stream_offline(StreamingSampler(model, SamplerConfig(block_frames=5)), cond, ref, generator=g)
    g = torch.Generator().manual_seed(0)
    off = StreamingSampler(model, SamplerConfig(block_frames=5, guidance=False))
    out = stream_offline(off, cond, ref, generator=g)
    assert off.cache is not None and off.cache.self_kv is not None
    assert off.cache.self_kv[0][0].shape[0] == 1  # one branch, batch 1
    assert out.shape == on.shape and not torch.allclose(out, on)


def test_conditions_steer_the_output() -> None:
    model = random_model()
    ref = torch.zeros(1, TINY.dim_motion)
    cfg = SamplerConfig(block_frames=5)
    a = stream_offline(
        StreamingSampler(model, cfg),
        random_conditions(TINY, 10, seed=1),
        ref,
        generator=torch.Generator().manual_seed(0),
    )
    b = stream_offline(
        StreamingSampler(model, cfg),
        random_conditions(TINY, 10, seed=2),
        ref,
        generator=torch.Generator().manual_seed(0),
    )
    assert not torch.allclose(a, b, atol=1e-3)


def test_bad_calls_are_refused_clearly() -> None:
    model = random_model()
    s = StreamingSampler(model, SamplerConfig(block_frames=5))
    with pytest.raises(RuntimeError, match="reset"):
        s.step(random_conditions(TINY, 5))
    with pytest.raises(ValueError, match="ref_motion"):
        s.reset(torch.zeros(1, 99))
    s.reset(torch.zeros(1, TINY.dim_motion))
    with pytest.raises(ValueError, match=r"1\.\.5 frames"):
        s.step(random_conditions(TINY, 6))
    wide = random_conditions(TINY.replace(dim_cond=12), 5)
    with pytest.raises(ValueError, match="condition widths"):
        s.step(wide)
    with pytest.raises(ValueError, match="batch"):
        s.step(random_conditions(TINY, 5, batch=2))
    with pytest.raises(ValueError, match="noise"):
        s.step(random_conditions(TINY, 5), noise=torch.zeros(1, 4, TINY.dim_motion))
    # nothing was consumed by the refused calls
    assert s.cache is not None and s.cache.frames_done == 0
    with pytest.raises(ValueError, match="official schedule"):
        StreamingSampler(model, SamplerConfig(schedule="official", block_frames=4))
    with pytest.raises(ValueError, match="window"):
        StreamingSampler(model, SamplerConfig(block_frames=18))


def test_context_noise_shows_a_noisy_history_but_keeps_the_output_clean() -> None:
    torch.manual_seed(0)
    model = random_model()
    seen: list[tuple[torch.Tensor, torch.Tensor, bool]] = []
    original = model.forward

    def spy(x, t, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((x.clone(), t.clone(), bool(kwargs.get("kv_only"))))
        return original(x, t, *args, **kwargs)

    model.forward = spy  # type: ignore[method-assign]
    cond = random_conditions(TINY, 8)
    for ctx in (0.0, 200.0):
        s = StreamingSampler(model, SamplerConfig(schedule="official", nfe=4, context_timestep=ctx))
        s.reset(torch.zeros(1, TINY.dim_motion))
        first = s.step(
            random_conditions(TINY, TINY.window_frames), generator=torch.Generator().manual_seed(1)
        )
        seen.clear()
        out = s.step(cond.slice(0, TINY.block_frames), generator=torch.Generator().manual_seed(2))
        assert torch.isfinite(out).all()
        cache = s.cache
        assert cache is not None
        # the context kept for the next block is the clean output, never its noised view
        assert torch.equal(cache.context, out[:, -TINY.context_frames :])
        c = TINY.context_frames
        full = [(x, t) for x, t, kv in seen if not kv]
        kv_passes = [(x, t) for x, t, kv in seen if kv]
        if ctx == 0.0:
            assert not kv_passes  # official: the t = 0 evaluation refreshes the cache
            assert all(torch.equal(x[:1, :c], first[:, -c:]) for x, _ in full)
            assert all((t[:, :c] == 0).all() for _, t in full)
        else:
            assert len(kv_passes) == 1 and (kv_passes[0][1] == ctx).all()
            assert all((t[:, :c] == ctx).all() for _, t in full)
            assert not torch.equal(full[0][0][:1, :c], first[:, -c:])  # the history is seen noised


def test_context_timestep_is_validated() -> None:
    with pytest.raises(ValueError, match="context_timestep"):
        SamplerConfig(context_timestep=1000)


@pytest.mark.parametrize("history", [None, 9])
def test_streamed_condition_keys_equal_the_training_windows(history: int | None) -> None:
    """Block by block, the cross-attention keys/values the stream caches are those of
    `encode_conditions_blockwise` (what training sees), with or without a longer history."""
    import dataclasses

    from models.generator.sampler import StreamingSampler

    cfg = dataclasses.replace(TINY, cond_context_frames=history)
    model = random_model(cfg)
    cond = random_conditions(cfg, 30)
    block = 4
    sampler = StreamingSampler(
        model, SamplerConfig(schedule="realtime", block_frames=block, nfe=4, guidance=False)
    )
    sampler.reset(torch.zeros(1, cfg.dim_motion))
    with torch.no_grad():
        want_k, want_v = model.cross_kv(model.encode_conditions_blockwise(cond, block))[0]
    for start in range(0, 28, block):
        sampler.step(cond.slice(start, start + block), generator=torch.Generator().manual_seed(start))
        cache = sampler.cache
        assert cache is not None
        assert cache.cond_history == min(start + block, cfg.condition_context)
        # The cache keeps the keys of the cond_window frames just before the context frames.
        stop = start + block - cfg.context_frames
        got_k, got_v = cache.cross_kv[0]
        k = got_k.shape[2]
        assert torch.allclose(got_k, want_k[:, :, stop - k : stop], atol=1e-5)
        assert torch.allclose(got_v, want_v[:, :, stop - k : stop], atol=1e-5)


def test_user_guidance_scale_per_channel() -> None:
    base = SamplerConfig(u_cfg_scale=2.0)
    assert user_guidance_scale(base, (0, 1), 6) == 2.0  # unset: one float
    assert user_guidance_scale(SamplerConfig(u_cfg_scale=2.0, u_cfg_speech=2.0), (0, 1), 6) == 2.0
    scale = user_guidance_scale(SamplerConfig(u_cfg_scale=2.0, u_cfg_speech=0.5), (0, 3), 6)
    assert isinstance(scale, torch.Tensor) and scale.tolist() == [0.5, 2.0, 2.0, 0.5, 2.0, 2.0]
    with pytest.raises(ValueError, match="u_cfg_speech needs a motion space"):
        user_guidance_scale(SamplerConfig(u_cfg_scale=2.0, u_cfg_speech=1.0), (), 6)


def test_audio_guidance_scale_per_channel() -> None:
    assert audio_guidance_scale(SamplerConfig(a_cfg_scale=2.0), (0, 1), 4) == 2.0
    scale = audio_guidance_scale(SamplerConfig(a_cfg_scale=2.0, a_cfg_speech=3.0), (1,), 4)
    assert isinstance(scale, torch.Tensor) and scale.tolist() == [2.0, 3.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="a_cfg_speech needs a motion space"):
        audio_guidance_scale(SamplerConfig(a_cfg_speech=3.0), (), 4)


@pytest.mark.parametrize(
    ("mixed", "speech_like", "other_like", "name"),
    [
        (
            {"u_cfg_scale": 2.0, "u_cfg_speech": 1.0},
            {"u_cfg_scale": 1.0},
            {"u_cfg_scale": 2.0},
            "u_cfg_speech",
        ),
        (
            {"a_cfg_scale": 2.0, "a_cfg_speech": 4.0},
            {"a_cfg_scale": 4.0},
            {"a_cfg_scale": 2.0},
            "a_cfg_speech",
        ),
    ],
)
def test_speech_guidance_guides_the_speech_channels_apart(
    mixed: dict[str, float], speech_like: dict[str, float], other_like: dict[str, float], name: str
) -> None:
    """One evaluation per block (nfe 3, realtime): each output channel follows its own guided
    velocity, so with u_cfg 2 and u_cfg_speech 1 the speech channels come out as with u_cfg 1
    everywhere and the others as with u_cfg 2 everywhere; the same for a_cfg and a_cfg_speech."""
    model = random_model()
    model.speech_channels = (0, 2)
    noise = torch.randn(1, 5, TINY.dim_motion, generator=torch.Generator().manual_seed(3))

    def block(scales: dict[str, float]) -> torch.Tensor:
        s = StreamingSampler(model, SamplerConfig(schedule="realtime", nfe=3, **scales))
        s.reset(torch.zeros(1, TINY.dim_motion))
        return s.step(random_conditions(TINY, 5), noise)

    got, like_speech, like_other = block(mixed), block(speech_like), block(other_like)
    speech, other = [0, 2], [1, 3, 4, 5]
    assert torch.allclose(got[..., speech], like_speech[..., speech], atol=1e-5)
    assert torch.allclose(got[..., other], like_other[..., other], atol=1e-5)
    assert not torch.allclose(like_speech[..., speech], like_other[..., speech], atol=1e-3)  # it matters
    with pytest.raises(ValueError, match=f"{name} needs"):
        StreamingSampler(random_model(), SamplerConfig(**mixed))


def test_cond_lookahead_limits_what_a_block_reads_ahead() -> None:
    """`cond_lookahead` reaches the cross-attention: 0 changes the motion, the model's own window
    (or more) does not, and a negative value is refused."""
    model = random_model()
    noise = torch.randn(1, 4, TINY.dim_motion, generator=torch.Generator().manual_seed(5))
    cond = random_conditions(TINY, 4)

    def block(**kw: int | None) -> torch.Tensor:
        s = StreamingSampler(model, SamplerConfig(schedule="realtime", nfe=4, block_frames=4, **kw))
        s.reset(torch.zeros(1, TINY.dim_motion))
        return s.step(cond, noise)

    default = block()
    assert torch.equal(block(cond_lookahead=TINY.cond_window), default)
    assert torch.equal(block(cond_lookahead=TINY.cond_window + 3), default)
    assert not torch.allclose(block(cond_lookahead=0), default, atol=1e-4)
    with pytest.raises(ConfigError, match="cond_lookahead"):
        SamplerConfig(cond_lookahead=-1)
