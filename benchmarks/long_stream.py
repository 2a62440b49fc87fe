#!/usr/bin/env python
"""One long realtime stream (default: one hour of motion at 25 fps) with bounded memory.

Random weights (small preset), random but smooth conditions generated block by block. Prints RSS
(start, after warm-up, end, max), cache bytes (constant after warm-up), frames/s and real-time
factor, and checks the output stays finite and alive. Exit status 1 when a check fails.

    nohup python benchmarks/long_stream.py --json long_stream.json > long_stream.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import torch

from models.generator.benchmark import format_long_stream, machine_info, run_long_stream
from models.generator.config import PRESETS, get_preset


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="small", choices=sorted(PRESETS), help="model preset (default small)")
    p.add_argument(
        "--frames", type=int, default=90_000, help="frames to generate (default 90000 = 1 h at 25 fps)"
    )
    p.add_argument(
        "--block-frames", type=int, default=None, help="realtime block size (default: the model's)"
    )
    p.add_argument("--warmup-frames", type=int, default=None, help="warm-up frames (default: one minute)")
    p.add_argument("--sample-every", type=int, default=1500, help="frames between RSS samples (default 1500)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-abs", type=float, default=100.0, help="largest |x| allowed in the output")
    p.add_argument(
        "--min-std", type=float, default=1e-3, help="smallest per-dimension std allowed (last minute)"
    )
    p.add_argument("--max-rss-growth-mib", type=float, default=64.0, help="RSS growth allowed after warm-up")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    result = run_long_stream(
        get_preset(args.preset).generator,
        args.frames,
        block_frames=args.block_frames,
        warmup_frames=args.warmup_frames,
        sample_every_frames=args.sample_every,
        seed=args.seed,
        max_abs_limit=args.max_abs,
        min_std_limit=args.min_std,
        rss_growth_limit=int(args.max_rss_growth_mib * 2**20),
        progress=not args.no_progress,
    )
    machine = machine_info(torch.device("cpu"))
    print(format_long_stream(result, machine))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, **result.summary()}, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
