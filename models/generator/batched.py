"""Several streams' next blocks in one batched forward pass.

A server runs many sessions on one model; when several are due for a block at about the same
time, running their generator steps as one batch passes over the weights once instead of once per
stream. `step_batched` stacks the streams along the batch axis (noise, conditions, reference
motion, every cache tensor, context frames), runs the sampler's one denoising loop
(`StreamingSampler._denoise`) on the stack, and hands each stream its motion and its advanced
cache back. The result equals stepping each stream alone (up to float rounding of the larger
matrix products); a seeded stream draws its noise from its own generator either way.

Streams batch only when they are compatible (`batch_key`): the same model object, the same
`SamplerConfig`, the same number of frames this step, and the same cache geometry (cached frames,
cached condition frames, context frames). `compatible_groups` sorts streams into such groups; a
group of one is an ordinary `step`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

import torch

from .cache import GeneratorCache
from .conditions import Conditions
from .sampler import StreamingSampler

log = logging.getLogger(__name__)


def batch_key(sampler: StreamingSampler, frames: int) -> Hashable | None:
    """What two streams must share to step together; None for a stream that cannot batch (not reset)."""
    cache = sampler.cache
    if cache is None:
        return None
    return (
        sampler.model,  # the same module object (hashed by identity)
        sampler.config,  # schedule, nfe, guidance and its scales, context timestep, block size
        sampler.block,
        frames,  # frames of this step
        cache.frames_done == 0,  # the official schedule's first window differs from later blocks
        cache.geometry,
        cache.ref.device,
        cache.ref.dtype,
    )


def compatible_groups(
    samplers: Sequence[StreamingSampler],
    frames: Sequence[int],
    max_batch: int | None = None,
) -> list[list[int]]:
    """Indices of `samplers` grouped into batches that can step together, in first-seen order.

    `frames[i]` is the number of frames stream i steps now. A stream that cannot batch (no
    cache yet) gets a group of its own; a sampler listed twice goes into different groups (its
    cache cannot be stacked with itself); groups hold at most `max_batch` streams."""
    if len(samplers) != len(frames):
        raise ValueError(f"{len(samplers)} samplers but {len(frames)} frame counts")
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 (got {max_batch})")
    groups: list[list[int]] = []
    open_group: dict[Hashable, list[int]] = {}
    for i, (sampler, n) in enumerate(zip(samplers, frames, strict=True)):
        key = batch_key(sampler, n)
        group = open_group.get(key) if key is not None else None
        if group is not None and any(samplers[j] is sampler for j in group):
            group = None
        if group is None or (max_batch is not None and len(group) >= max_batch):
            group = []
            groups.append(group)
            if key is not None:
                open_group[key] = group
        group.append(i)
    return groups


@torch.inference_mode()
def step_batched(
    samplers: Sequence[StreamingSampler],
    conds: Sequence[Conditions],  # each (B_i, n, .)
    noises: Sequence[torch.Tensor | None] | None = None,  # each (B_i, n, D) or None (drawn)
    generators: Sequence[torch.Generator | None] | None = None,
) -> list[torch.Tensor]:  # each (B_i, n, D) clean motion
    """One `step` of every sampler, run as one batched forward pass; the samplers' caches advance.

    The samplers must be compatible (one group of `compatible_groups`); a single sampler is a
    plain `step`. Inputs are checked (and noise drawn, each stream with its own generator) before
    anything runs, so a bad input leaves every cache as it was."""
    k = len(samplers)
    noise_list = list(noises) if noises is not None else [None] * k
    gen_list = list(generators) if generators is not None else [None] * k
    if not len(conds) == len(noise_list) == len(gen_list) == k:
        raise ValueError(
            f"one condition, noise and generator per sampler: {k} samplers, {len(conds)} conditions, "
            f"{len(noise_list)} noises, {len(gen_list)} generators"
        )
    if k == 0:
        return []
    if k == 1:
        return [samplers[0].step(conds[0], noise_list[0], gen_list[0])]
    keys = [batch_key(s, c.frames) for s, c in zip(samplers, conds, strict=True)]
    if any(key is None for key in keys) or any(key != keys[0] for key in keys[1:]):
        raise ValueError("these streams cannot step together: group them with compatible_groups()")
    if len({id(s) for s in samplers}) != k:
        raise ValueError("a sampler is listed twice")
    inputs = [
        s._block_inputs(c, n, g) for s, c, n, g in zip(samplers, conds, noise_list, gen_list, strict=True)
    ]
    caches = [s._require_cache() for s in samplers]
    rows = [c.batch for c, _ in inputs]
    lead = samplers[0]
    stacked = GeneratorCache.stack(caches, lead.branches)
    cond = Conditions.cat([c for c, _ in inputs], dim=0)  # (sum B_i, n, .)
    noise = torch.cat([x for _, x in inputs])  # (sum B_i, n, D)
    motion = lead._denoise(stacked, cond, noise, rows, gen_list)  # (sum B_i, n, D)
    stacked.unstack_into(caches, lead.branches)
    log.debug("stepped %d streams (%d rows) in one batch", k, sum(rows))
    return list(motion.split(rows))
