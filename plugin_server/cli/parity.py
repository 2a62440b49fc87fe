"""`avatar-forcing parity PATH`: compare this implementation with an official-recorded fixture."""

from __future__ import annotations

import argparse

HELP = "check numerical parity with a fixture recorded from the official implementation"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="fixture file (.pt) in the format of official_parity_small.pt")
    p.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest absolute error allowed (default 1e-4)"
    )


def run(args: argparse.Namespace) -> int:
    from models.generator.parity import run_parity

    r = run_parity(args.path, args.tolerance)
    print(f"fixture: {args.path} ({r.frames} frames, {r.blocks} sampler calls)")
    print(f"sample     max |error| = {r.sample_error:.3e}")
    print(f"forward_v  max |error| = {r.forward_error:.3e}")
    print(f"{'PASS' if r.passed else 'FAIL'} (tolerance {r.tolerance:g})")
    return 0 if r.passed else 1
