"""A stream's memory is bounded: cache shapes and bytes stop changing once the cache is full."""

from __future__ import annotations

import pytest
import torch

from models.generator.benchmark import RandomStream, cache_shapes, realtime_fill_blocks, run_long_stream
from models.generator.config import GeneratorConfig

TINY = GeneratorConfig(
    dim_motion=6,
    dim_cond=8,
    hidden=16,
    depth=2,
    heads=2,
    cond_heads=2,
    window_frames=12,
    block_frames=3,
    context_frames=2,
    lookahead_frames=1,
    cond_window=1,
)


@pytest.mark.parametrize("block", [3, 4, 1])
def test_cache_is_bounded_across_many_wraparounds(block: int) -> None:
    stream = RandomStream(TINY, block_frames=block, seed=1)
    max_self = TINY.window_frames - block - TINY.context_frames
    warm_blocks = realtime_fill_blocks(TINY, block) + 1
    frames, ref_shapes, ref_bytes = 0, None, None
    outputs = []
    while frames < 400:  # > 40 windows of 12 frames: the cache wraps around many times
        out, _ = stream.step()
        frames += out.shape[1]
        outputs.append(out)
        cache = stream.cache
        assert cache.cached_frames <= max_self
        assert cache.cached_cond_frames <= TINY.cond_window
        if len(outputs) == warm_blocks:
            ref_shapes, ref_bytes = cache_shapes(cache), cache.nbytes()
            assert cache.cached_frames == max_self
        elif len(outputs) > warm_blocks:
            assert cache_shapes(cache) == ref_shapes
            assert cache.nbytes() == ref_bytes
        else:
            assert cache.cached_frames < max_self  # still filling
    assert cache.frames_done == frames
    x = torch.cat(outputs, dim=1)
    assert torch.isfinite(x).all()
    assert float(x.abs().max()) < 100.0
    assert float(x[0, -100:].std(dim=0).min()) > 1e-3  # still moving at the end


def test_partial_last_block_keeps_cache_shapes() -> None:
    stream = RandomStream(TINY, seed=2)
    for _ in range(10):
        stream.step()
    shapes, nbytes = cache_shapes(stream.cache), stream.cache.nbytes()
    stream.step(2)  # a short block (end of a recording)
    assert cache_shapes(stream.cache) == shapes
    assert stream.cache.nbytes() == nbytes


def test_run_long_stream_checks_pass() -> None:
    r = run_long_stream(TINY, frames=600, warmup_frames=60, sample_every_frames=100)
    assert r.frames == 600
    assert r.passed, r.checks()
    assert r.cache_bytes_min == r.cache_bytes_max == r.cache_bytes_after_warmup > 0
    assert r.last_minute_frames == 540  # a minute is longer than what follows warm-up here
    assert r.rtf > 0 and r.frames_per_s > 0
    assert len(r.rss_samples) >= 6
