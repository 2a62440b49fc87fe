"""Ticking several sessions at once, their due blocks generated in batched forward passes.

`tick_sessions` runs the phases of `Session.tick` for a list of sessions, round by round: every
session due for a block prepares it (`Session.prepare_block`: audio placed, conditions computed by
its own audio front end), the blocks are grouped by generator compatibility
(`models.generator.batched.compatible_groups`: same model, sampler settings, block size and cache
geometry), each group runs as one `step_batched` (a group of one is a plain step), and every
session finishes its block (`Session.finish_block`). A session behind by several blocks takes
part in up to `max_blocks_per_tick` rounds. Then each session's periodic stats.

`Session.tick` is `tick_sessions([session], now)`: one code path for one or many sessions. Seeded
sessions produce the same motion batched or not (each stream draws its noise from its own
generator); batching only changes float rounding of the matrix products.

Errors stay per session: a block that fails to prepare or finish is reported to its own client
(`Session.fail_block`); a batched step that fails is retried stream by stream, so one bad session
cannot cost the others their block.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from models.generator.batched import compatible_groups, step_batched

if TYPE_CHECKING:
    from plugin_server.protocol import ServerMessage

    from .session import PendingBlock, Session

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one `tick_sessions` call did."""

    outputs: list[list[ServerMessage]]  # per session, in the order given
    blocks: int = 0  # blocks generated
    steps: int = 0  # generator steps run: one per group (a batched forward pass, or one session alone)
    batched_blocks: int = 0  # blocks generated in a step shared with other sessions
    batch_sizes: list[int] = field(default_factory=list)  # sessions in each step, in order


def tick_sessions(
    sessions: Sequence[Session],
    now: float,
    *,
    early_s: float = 0.0,
    max_batch: int | None = None,
) -> TickReport:
    """Tick every session at `now` (the adapter's clock), batching compatible generator steps.

    `early_s`: a block due within this many seconds after `now` is generated now, so that
    sessions due at about the same time share a step. `max_batch`: most sessions in one step."""
    report = TickReport([[] for _ in sessions])
    rounds_left = [s.session_limits.max_blocks_per_tick for s in sessions]
    active = [i for i, s in enumerate(sessions) if not s.closed]
    while active:
        pending: list[tuple[int, PendingBlock]] = []
        for i in active:
            session = sessions[i]
            try:
                block = session.prepare_block(now, early_s)
            except Exception as e:  # a bug must not end the session: report, skip the block
                report.outputs[i].append(session.fail_block(e))
                continue
            if block is not None:
                pending.append((i, block))
        if not pending:
            break
        groups = compatible_groups(
            [b.step.sampler for _, b in pending], [b.frames for _, b in pending], max_batch
        )
        done: list[int] = []
        for group in groups:
            done += _run_group([pending[j] for j in group], report)
        for i in done:
            rounds_left[i] -= 1
        active = [i for i in done if rounds_left[i] > 0]
    for i, session in enumerate(sessions):
        report.outputs[i] += session.periodic(now)
    return report


@torch.inference_mode()
def _run_group(members: list[tuple[int, PendingBlock]], report: TickReport) -> list[int]:
    """One generator step for a compatible group; returns the indices whose block went out."""
    blocks = [b for _, b in members]
    timer = blocks[0].session._timer
    t0 = timer()
    try:
        motions = step_batched(
            [b.step.sampler for b in blocks],
            [b.step.cond for b in blocks],
            generators=[b.step.generator for b in blocks],
        )  # each (1, n, D)
    except Exception as e:
        if len(members) == 1:
            i, block = members[0]
            report.outputs[i].append(block.session.fail_block(e))
            return []
        log.error("a batched step of %d sessions failed: stepping them one by one", len(members), exc_info=e)
        return [i for m in members for i in _run_group([m], report)]
    share = (timer() - t0) / len(members)
    report.steps += 1
    report.batch_sizes.append(len(members))
    done = []
    for (i, block), motion in zip(members, motions, strict=True):
        session = block.session
        try:
            report.outputs[i] += session.finish_block(block, motion, share, batch=len(members))
        except Exception as e:
            report.outputs[i].append(session.fail_block(e))
            continue
        done.append(i)
        report.blocks += 1
        if len(members) > 1:
            report.batched_blocks += 1
    return done
