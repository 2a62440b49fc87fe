#!/usr/bin/env python
"""Frames per second of each renderer, and of image encoding, on one core.

Every registered renderer draws the same motion: 10 s of the bundled model's output for the bundled
sample conversation (talking, listening, blinks, head motion), at each size asked (512x512 by
default). Each renderer first draws 20 warm-up frames; then the median of `--repeats` passes over
the sequence gives frames per second. Encoding times (PNG, WebP, JPEG) are measured on the
cartoon's frames, since the `frames` output pays them per image.

    OMP_NUM_THREADS=1 python benchmarks/bench_renderers.py [--sizes 512 256] [--renderers cartoon portrait]
        [--frames 250] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.render import create_renderer, encode_image, renderer_names  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sample_motion(frames: int) -> np.ndarray:
    """(frames, 58) ARKit frames: the bundled model on the bundled sample (the server's engine)."""
    import soundfile as sf
    import torch

    from models.bundle import AvatarForcingModel
    from models.motion.io import read_motion
    from plugin_server.session.offline import run_offline

    torch.set_num_threads(1)
    samples = ROOT / "models" / "samples"
    avatar, a_rate = sf.read(samples / "avatar.flac", dtype="float32")
    user, u_rate = sf.read(samples / "user.flac", dtype="float32")
    user_motion, _ = read_motion(samples / "user_motion.csv")
    motion = run_offline(AvatarForcingModel.load(None), avatar, a_rate, user, u_rate, user_motion)
    reps = -(-frames // len(motion))
    return np.concatenate([motion] * reps)[:frames]


def time_renderer(name: str, size: int, motion: np.ndarray, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    renderer = create_renderer(name, width=size, height=size)
    setup_s = time.perf_counter() - t0
    for frame in motion[:20]:
        renderer.render(frame)
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for frame in motion:
            renderer.render(frame)
        passes.append(time.perf_counter() - t0)
    per_frame = statistics.median(passes) / len(motion)
    return {
        "renderer": name,
        "size": size,
        "fps": round(1.0 / per_frame, 1),
        "ms_per_frame": round(per_frame * 1000, 2),
        "setup_s": round(setup_s, 3),
    }


def time_encoding(size: int, motion: np.ndarray) -> list[dict[str, Any]]:
    renderer = create_renderer("cartoon", width=size, height=size)
    images = [renderer.render(f) for f in motion[:50]]
    rows = []
    for fmt in ("png", "webp", "jpeg"):
        t0 = time.perf_counter()
        sizes = [len(encode_image(img, fmt)) for img in images]
        per = (time.perf_counter() - t0) / len(images)
        rows.append(
            {
                "format": fmt,
                "size": size,
                "ms_per_image": round(per * 1000, 2),
                "kb": round(np.mean(sizes) / 1024, 1),
            }
        )
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512])
    p.add_argument(
        "--renderers", nargs="+", default=None, help=f"default: all ({', '.join(renderer_names())})"
    )
    p.add_argument("--frames", type=int, default=250)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    motion = sample_motion(args.frames)
    rows = [
        time_renderer(name, size, motion, args.repeats)
        for name in (args.renderers or renderer_names())
        for size in args.sizes
    ]
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"# renderers on {cpu_name()}, OMP_NUM_THREADS={threads}, {len(motion)} frames of the sample")
    print(f"{'renderer':<10} {'size':>9} {'fps':>8} {'ms/frame':>9} {'setup s':>8}")
    for r in rows:
        size = f"{r['size']}x{r['size']}"
        print(
            f"{r['renderer']:<10} {size:>9} {r['fps']:>8.1f} {r['ms_per_frame']:>9.2f} {r['setup_s']:>8.3f}"
        )
    enc = [row for size in args.sizes for row in time_encoding(size, motion)]
    print(f"\n{'encoding':<10} {'size':>9} {'ms/image':>9} {'KiB':>7}")
    for e in enc:
        size = f"{e['size']}x{e['size']}"
        print(f"{e['format']:<10} {size:>9} {e['ms_per_image']:>9.2f} {e['kb']:>7.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"renderers": rows, "encoding": enc}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
