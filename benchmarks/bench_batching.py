#!/usr/bin/env python
"""Time per block for N streams stepped one by one vs batched into one forward pass.

The bundled model (models/weights/default.pt: the small preset, realtime schedule, 4-frame blocks,
nfe 10 with guidance), N = 1, 2, 4, 8 streams, torch threads 1 and 2, all in one run. For each
(threads, N) two sets of N streams run side by side, interleaved block by block (the order
alternating), so load from other jobs hits both alike: one set steps each stream with
`StreamingSampler.step`, the other all at once with `models.generator.batched.step_batched`. Both
sets use the same seeds, conditions and reference, so the script also prints how far apart their
outputs are (float rounding only). Timed blocks start once every cache is full (steady state).

    python benchmarks/bench_batching.py [--streams 1 2 4 8] [--threads 1 2] [--blocks 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from models.bundle import AvatarForcingModel
from models.generator.batched import step_batched
from models.generator.benchmark import machine_info
from models.generator.conditions import Conditions
from models.generator.sampler import StreamingSampler


def _cpu_seconds() -> tuple[float, float]:
    """(all processes' busy CPU seconds from /proc/stat, this process's CPU seconds)."""
    busy = float("nan")
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return busy, t.user + t.system


def _streams(model: AvatarForcingModel, n: int, device: torch.device) -> list[StreamingSampler]:
    out = []
    for _ in range(n):
        s = StreamingSampler(model.generator, model.card.sampler)
        s.reset(model.rest_reference(1).to(device))
        out.append(s)
    return out


def _block_conds(
    model: AvatarForcingModel, n: int, frames: int, g: torch.Generator, device: torch.device
) -> list[Conditions]:
    """Random condition features of one block for each of n streams."""
    c = model.card.generator
    return [
        Conditions(
            torch.randn(1, frames, c.dim_cond, generator=g).to(device),  # (1, n, dim_cond)
            torch.randn(1, frames, c.dim_cond, generator=g).to(device),
            0.3 * torch.randn(1, frames, c.dim_motion, generator=g).to(device),  # (1, n, dim_motion)
        )
        for _ in range(n)
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: AvatarForcingModel, n: int, blocks: int, warmup: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    """Median / mean time of one round (one block of every stream), one by one and batched."""
    alone, batched = _streams(model, n, device), _streams(model, n, device)
    gen_a = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    gen_b = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    cond_gen = torch.Generator().manual_seed(seed + 1000)
    c = model.card.generator
    fill = -(-(c.window_frames - alone[0].block - c.context_frames) // alone[0].block) + 1

    def run_alone(conds: list[Conditions]) -> tuple[list[torch.Tensor], float]:
        _sync(device)
        t0 = time.perf_counter()
        out = [s.step(cond, generator=g) for s, cond, g in zip(alone, conds, gen_a, strict=True)]
        _sync(device)
        return out, time.perf_counter() - t0

    def run_batched(conds: list[Conditions]) -> tuple[list[torch.Tensor], float]:
        _sync(device)
        t0 = time.perf_counter()
        out = step_batched(batched, conds, generators=gen_b)
        _sync(device)
        return out, time.perf_counter() - t0

    t_alone: list[float] = []
    t_batched: list[float] = []
    max_diff = 0.0
    for k in range(fill + warmup + blocks):
        conds = _block_conds(model, n, alone[0].next_block_frames, cond_gen, device)

        if k % 2 == 0:
            (out_a, dt_a), (out_b, dt_b) = run_alone(conds), run_batched(conds)
        else:
            (out_b, dt_b), (out_a, dt_a) = run_batched(conds), run_alone(conds)
        max_diff = max(max_diff, max(float((a - b).abs().max()) for a, b in zip(out_a, out_b, strict=True)))
        if k >= fill + warmup:
            t_alone.append(dt_a)
            t_batched.append(dt_b)
    block_s = alone[0].block / c.fps
    med_a, med_b = statistics.median(t_alone), statistics.median(t_batched)
    return {
        "streams": n,
        "blocks": blocks,
        "one_by_one_round_ms": round(1000 * med_a, 2),
        "one_by_one_round_mean_ms": round(1000 * statistics.fmean(t_alone), 2),
        "batched_round_ms": round(1000 * med_b, 2),
        "batched_round_mean_ms": round(1000 * statistics.fmean(t_batched), 2),
        "one_by_one_block_ms": round(1000 * med_a / n, 2),
        "batched_block_ms": round(1000 * med_b / n, 2),
        "speedup": round(med_a / med_b, 3),
        "one_by_one_rtf": round(med_a / block_s, 3),  # one round's compute / one block's duration
        "batched_rtf": round(med_b / block_s, 3),
        "max_abs_diff": max_diff,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| threads | streams | one by one: round | per block | batched: round | per block | speed-up "
        "| RTF one by one | RTF batched | max diff |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['streams']} | {r['one_by_one_round_ms']:.1f} ms "
            f"| {r['one_by_one_block_ms']:.1f} ms | {r['batched_round_ms']:.1f} ms "
            f"| {r['batched_block_ms']:.1f} ms | {r['speedup']:.2f}x | {r['one_by_one_rtf']:.2f} "
            f"| {r['batched_rtf']:.2f} | {r['max_abs_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    p.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8], help="N (default 1 2 4 8)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (default 1 2)")
    p.add_argument("--blocks", type=int, default=30, help="timed rounds per row (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds once the caches are full")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    device = torch.device(args.device)
    model = AvatarForcingModel.load(args.model).eval().to(device)
    info = machine_info(device)
    print(f"machine: {info}", flush=True)
    busy0, own0 = _cpu_seconds()
    wall0 = time.monotonic()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n in args.streams:
            row = {"threads": threads, **measure(model, n, args.blocks, args.warmup, device)}
            rows.append(row)
            print(
                f"threads {threads} streams {n}: one by one {row['one_by_one_block_ms']:.1f} ms/block, "
                f"batched {row['batched_block_ms']:.1f} ms/block ({row['speedup']:.2f}x)",
                flush=True,
            )
    busy1, own1 = _cpu_seconds()
    wall = time.monotonic() - wall0
    other = (busy1 - busy0) - (own1 - own0)
    print()
    print(format_table(rows))
    print(
        f"\nwall {wall:.0f} s; other processes used {other:.1f} CPU-s of {wall * (os.cpu_count() or 1):.0f} "
        f"available; load average at the end {os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'}"
    )
    if args.json is not None:
        report = {"machine": info, "wall_s": wall, "other_cpu_s": other, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
