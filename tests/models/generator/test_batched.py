import pytest
import torch

from models.generator import SamplerConfig
from models.generator.batched import compatible_groups, step_batched
from models.generator.cache import split_rows, stack_rows
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator

from .conftest import TINY, random_conditions, random_model
from .test_sampler import CountingModel

STREAMS = 3


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal up to float32 rounding: 1e-5, relative to the tensor's scale (the tiny random model's
    values reach ~30; a different batch size only changes how the matrix products round)."""
    assert got.shape == want.shape
    if want.numel() == 0:
        return
    scale = max(1.0, float(want.abs().max()))
    assert float((got - want).abs().max()) <= 1e-5 * scale


Streams = tuple[list[StreamingSampler], list[torch.Generator]]


def _streams(model: MotionGenerator, cfg: SamplerConfig) -> Streams:
    """3 reset samplers (batch 1, 2, 1; their own reference) and one generator each."""
    samplers = []
    for i in range(STREAMS):
        s = StreamingSampler(model, cfg)
        s.reset(torch.randn(1 + i % 2, TINY.dim_motion, generator=torch.Generator().manual_seed(i)))
        samplers.append(s)
    return samplers, [torch.Generator().manual_seed(10 + i) for i in range(STREAMS)]


@pytest.mark.parametrize(
    "cfg",
    [
        SamplerConfig(schedule="realtime", block_frames=3, nfe=4),
        SamplerConfig(schedule="realtime", block_frames=3, nfe=4, guidance=False),
        SamplerConfig(schedule="realtime", block_frames=2, nfe=4, context_timestep=100.0),
        SamplerConfig(schedule="official", nfe=4),
        SamplerConfig(schedule="official", nfe=4, guidance=False),
    ],
    ids=["realtime", "realtime-no-guidance", "realtime-context-noise", "official", "official-no-guidance"],
)
def test_batched_step_equals_individual_steps(cfg: SamplerConfig) -> None:
    """3 streams (batch 1 or 2 each, own reference and seed) over blocks from the first one until
    well after the cache is full: the batched step gives each stream what stepping it alone
    gives, and leaves the same caches."""
    model = random_model()
    alone, gen_a = _streams(model, cfg)
    batched, gen_b = _streams(model, cfg)
    conds = [random_conditions(TINY, 80, batch=s.cache.ref.shape[0], seed=i) for i, s in enumerate(alone)]  # type: ignore[union-attr]
    done, full_seen = 0, False
    while done < 60:
        n = alone[0].next_block_frames
        blocks = [c.slice(done, done + n) for c in conds]
        want = [s.step(c, generator=g) for s, c, g in zip(alone, blocks, gen_a, strict=True)]
        assert compatible_groups(batched, [n] * STREAMS) == [[0, 1, 2]]
        got = step_batched(batched, blocks, generators=gen_b)
        for w, g in zip(want, got, strict=True):
            assert g.shape == w.shape
            _close(g, w)
        for a, b in zip(alone, batched, strict=True):
            ca, cb = a.cache, b.cache
            assert ca is not None and cb is not None
            assert ca.frames_done == cb.frames_done and ca.geometry == cb.geometry
            assert ca.self_kv is not None and cb.self_kv is not None
            for (ka, va), (kb, vb) in zip(ca.self_kv, cb.self_kv, strict=True):
                _close(kb, ka)
                _close(vb, va)
            assert ca.context is not None and cb.context is not None
            _close(cb.context, ca.context)
        cache = alone[0].cache
        assert cache is not None
        full_seen |= cache.cached_frames == cache.max_self_frames
        done += n
    assert full_seen  # blocks ran with a full, rolling cache


def test_one_forward_per_evaluation_for_the_whole_batch() -> None:
    model = random_model()
    cfg = SamplerConfig(schedule="realtime", block_frames=3, nfe=4)
    samplers, gens = _streams(model, cfg)
    counter = CountingModel(model)
    conds = [random_conditions(TINY, 3, batch=s.cache.ref.shape[0]) for s in samplers]  # type: ignore[union-attr]
    step_batched(samplers, conds, generators=gens)
    assert (counter.full, counter.kv_only) == (2, 1)  # as one stream: nfe 4 -> 2 + the refresh


def test_incompatible_streams_are_grouped_apart() -> None:
    model, other = random_model(), random_model(seed=1)
    base = SamplerConfig(schedule="realtime", block_frames=3, nfe=4)

    def make(m=model, cfg=base, steps=0):  # type: ignore[no-untyped-def]
        s = StreamingSampler(m, cfg)
        s.reset(torch.zeros(1, TINY.dim_motion))
        for i in range(steps):
            s.step(random_conditions(TINY, s.next_block_frames, seed=i))
        return s

    a, b = make(), make()
    c = make(cfg=SamplerConfig(schedule="realtime", block_frames=3, nfe=4, a_cfg_scale=3.0))
    d = make(m=other)
    e = make(steps=1)  # same config, another cache geometry
    f, g = make(steps=1), make()
    unset = StreamingSampler(model, base)  # never reset: cannot batch
    samplers = [a, b, c, d, e, f, g, unset, a]
    assert compatible_groups(samplers, [3] * 9) == [[0, 1, 6], [2], [3], [4, 5], [7], [8]]
    assert compatible_groups([a, b, g], [3, 2, 3]) == [[0, 2], [1]]  # frames differ
    assert compatible_groups([a, b, g], [3] * 3, max_batch=2) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="cannot step together"):
        step_batched([a, c], [random_conditions(TINY, 3)] * 2)
    with pytest.raises(ValueError, match="twice"):
        step_batched([a, a], [random_conditions(TINY, 3)] * 2)


def test_streams_that_stepped_apart_batch_again_once_their_caches_match() -> None:
    """After the first blocks, caches of streams started at different times reach the same
    (full) geometry and batch, with the same result as stepping alone."""
    model = random_model()
    cfg = SamplerConfig(schedule="realtime", block_frames=4, nfe=4)
    s1, s2, r1, r2 = (StreamingSampler(model, cfg) for _ in range(4))
    for s in (s1, s2, r1, r2):
        s.reset(torch.zeros(1, TINY.dim_motion))
    cond = random_conditions(TINY, 80)
    for k in range(5):  # stream 1 is a block ahead
        for s in (s1, r1):
            s.step(cond.slice(4 * k, 4 * k + 4), generator=torch.Generator().manual_seed(k))
    for k in range(4):  # both caches are full now: the same geometry
        for s in (s2, r2):
            s.step(cond.slice(4 * k, 4 * k + 4), generator=torch.Generator().manual_seed(k))
    assert compatible_groups([s1, s2], [4, 4]) == [[0, 1]]
    block = cond.slice(40, 44)
    gens = [torch.Generator().manual_seed(9) for _ in range(2)]  # one generator per stream
    got = step_batched([s1, s2], [block, block], generators=gens)
    want = [s.step(block, generator=torch.Generator().manual_seed(9)) for s in (r1, r2)]
    for g, w in zip(got, want, strict=True):
        _close(g, w)
    assert s1.cache is not None and s1.cache.frames_done == 24


def test_bad_input_leaves_every_cache_as_it_was() -> None:
    model = random_model()
    samplers, _ = _streams(model, SamplerConfig(schedule="realtime", block_frames=3, nfe=4))
    before = [s.cache.frames_done for s in samplers]  # type: ignore[union-attr]
    conds = [random_conditions(TINY, 3, batch=s.cache.ref.shape[0]) for s in samplers]  # type: ignore[union-attr]
    conds[2] = random_conditions(TINY, 3, batch=5)
    with pytest.raises(ValueError, match="batch"):
        step_batched(samplers, conds)
    assert [s.cache.frames_done for s in samplers] == before  # type: ignore[union-attr]


def test_stack_rows_keeps_the_branch_major_layout() -> None:
    a = torch.arange(6).reshape(6, 1)  # 3 branches x 2 rows
    b = torch.arange(10, 13).reshape(3, 1)  # 3 branches x 1 row
    stacked = stack_rows([a, b], 3)
    assert stacked.flatten().tolist() == [0, 1, 10, 2, 3, 11, 4, 5, 12]
    back = split_rows(stacked, [2, 1], 3)
    assert torch.equal(back[0], a) and torch.equal(back[1], b)
    assert stack_rows([a, b]).flatten().tolist() == [0, 1, 2, 3, 4, 5, 10, 11, 12]
