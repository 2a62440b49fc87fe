"""`avatar-forcing bench`: speed of the streaming sampler per preset (random weights, float32)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .options import add_backend_arguments

HELP = (
    "benchmark the streaming sampler: time per block, real-time factor, latency, speed-up over the plain loop"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset", nargs="+", default=["paper", "small"], help="presets to benchmark (default: paper small)"
    )
    p.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when available)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: all cores, os.cpu_count())"
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=None,
        help="timed warm blocks per measurement (default: 8 for paper, 30 for small)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed blocks after the first call (default 1; realtime "
        "runs also wait until the cache is full)",
    )
    p.add_argument(
        "--block-frames",
        type=int,
        nargs="+",
        default=[10, 4],
        help="realtime-schedule block sizes in frames (default: 10 4)",
    )
    p.add_argument(
        "--first-repeats",
        type=int,
        default=3,
        help="fresh streams on which the first call is timed; the median is reported (default 3)",
    )
    p.add_argument("--no-reference", action="store_true", help="skip the plain ReferenceSampler baseline")
    add_backend_arguments(p, onnx_dir=False)  # random weights: exported into a temporary directory
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights, conditions and noise")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    import torch

    from models.generator.benchmark import format_report, public_report, resolve_device, run_benchmark
    from models.generator.config import PRESETS

    unknown = [p for p in args.preset if p not in PRESETS]
    if unknown:
        print(f"unknown preset(s) {unknown}; valid: {sorted(PRESETS)}", file=sys.stderr)
        return 2
    if args.blocks is not None and args.blocks < 1:
        print("--blocks must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = resolve_device(args.device)
    if args.backend == "onnx":
        from models.generator.onnx_backend import require_onnxruntime
        from models.generator.onnx_export import OnnxUnavailableError, require_onnx

        try:
            require_onnxruntime()
            require_onnx()
        except OnnxUnavailableError as e:
            print(f"error: --backend onnx: {e}", file=sys.stderr)
            return 2
    report = run_benchmark(
        args.preset,
        device,
        blocks=args.blocks,
        warmup=args.warmup,
        realtime_blocks=args.block_frames,
        reference=not args.no_reference,
        seed=args.seed,
        progress=not args.no_progress,
        first_repeats=args.first_repeats,
        backend=args.backend,
    )
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(public_report(report), indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0
