#!/usr/bin/env python
"""Per-block generation time, torch vs onnxruntime, side by side in one run.

Models: `small` = the bundled default model (models/weights/default.pt, its trained weights) and
`paper` = the paper preset with random weights; realtime schedule with each model's block
(4 and 10 frames), nfe 10 with guidance (3 branches). For each CPU thread count, a torch stream and
an onnxruntime stream of the same model take turns block by block (`benchmark.time_streams`), so
load from other work on the machine hits both alike. The caches are full before timing starts.
Also recorded: what the onnx backend costs up front (export, session creation, file sizes) and the
largest difference between the two backends' motion for the same noise.

python benchmarks/bench_onnx.py                      # small + paper, threads 1 and 2
python benchmarks/bench_onnx.py --models small --threads 1 --blocks 60 --json onnx.json
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from models.bundle import AvatarForcingModel
from models.generator.backend import set_backend
from models.generator.benchmark import (
    machine_info,
    randomize_weights,
    realtime_fill_blocks,
    resolve_device,
    time_streams,
)
from models.generator.config import SamplerConfig, get_preset
from models.generator.onnx_backend import OnnxBackend, compare_backends, require_onnxruntime
from models.generator.onnx_export import export_generator
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator

log = logging.getLogger("bench_onnx")
DEFAULT_BLOCKS = {"small": 40, "paper": 8}
PARITY_BLOCKS = {"small": 24, "paper": 3}


def build_model(name: str, seed: int) -> tuple[MotionGenerator, str]:
    """The generator to time and a line saying what it is."""
    if name == "small":
        model = AvatarForcingModel.load()  # the bundled default: small preset, trained weights
        return model.generator, "bundled default model (small preset, trained weights)"
    cfg = get_preset(name).generator
    gen = randomize_weights(MotionGenerator(cfg), torch.Generator().manual_seed(seed)).eval()
    return gen, f"{name} preset, random weights"


def _stats(xs: list[float]) -> dict[str, float]:
    ordered = sorted(xs)
    return {
        "mean_ms": 1e3 * statistics.fmean(xs),
        "median_ms": 1e3 * statistics.median(xs),
        "p95_ms": 1e3 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered) + 0.5) - 1)],
    }


def bench_model(
    name: str, threads: list[int], blocks: int, device: torch.device, seed: int, parity: bool
) -> dict[str, Any]:
    generator, what = build_model(name, seed)
    generator = generator.to(device)
    cfg = generator.config
    sam_cfg = SamplerConfig(schedule="realtime", block_frames=cfg.block_frames)
    block = cfg.block_frames
    params = sum(p.numel() for p in generator.parameters())
    result: dict[str, Any] = {"model": name, "what": what, "params": params, "block_frames": block}
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        start = time.perf_counter()
        export_generator(generator, tmp)
        result["export_s"] = time.perf_counter() - start
        result["files_mb"] = {p.name: p.stat().st_size / 2**20 for p in sorted(Path(tmp).iterdir())}
        # The onnx stream runs a copy of the model (same weights) with the backend attached, so
        # both streams can take turns on one machine in one loop.
        onnx_model = copy.deepcopy(generator)
        rows = []
        for t in threads:
            torch.set_num_threads(t)
            start = time.perf_counter()
            backend = OnnxBackend(tmp, providers="cuda" if device.type == "cuda" else "cpu", threads=t)
            session_s = time.perf_counter() - start
            set_backend(onnx_model, backend)
            samplers = [StreamingSampler(generator, sam_cfg), StreamingSampler(onnx_model, sam_cfg)]
            g = torch.Generator().manual_seed(seed)
            ref = torch.randn(1, cfg.dim_motion, generator=g).to(device)
            warm = realtime_fill_blocks(cfg, block) + 2
            log.info("%s, %d thread(s): %d warm-up + %d timed blocks per backend", name, t, warm, blocks)
            with torch.inference_mode():
                measured = time_streams(samplers, cfg, ref, blocks, warm, device, g)
            (_, _, torch_s), (_, _, onnx_s) = measured
            row = {
                "threads": t,
                "providers": backend.providers,
                "session_s": session_s,
                "torch": _stats(torch_s),
                "onnx": _stats(onnx_s),
                "blocks": blocks,
            }
            row["onnx_over_torch_median"] = row["onnx"]["median_ms"] / row["torch"]["median_ms"]
            rows.append(row)
        result["rows"] = rows
        if parity:
            torch.set_num_threads(threads[0])
            diff, scale, frames = compare_backends(
                generator, backend, sam_cfg, blocks=PARITY_BLOCKS.get(name, 8), seed=seed
            )
            result["parity"] = {"max_abs_diff": diff, "max_abs_output": scale, "frames": frames}
    return result


def format_results(machine: dict[str, Any], results: list[dict[str, Any]]) -> str:
    import onnxruntime

    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"onnxruntime {onnxruntime.__version__}, device {machine['device']}"
        + (f" ({machine['gpu']})" if "gpu" in machine else ""),
        f"date: {machine['date']}; load average at start: {machine.get('load_average_start')}, "
        f"at end: {machine.get('load_average')}",
        "realtime schedule, nfe 10, guidance (3 branches), float32, caches full; per-block compute time",
        "",
    ]
    header = (
        f"{'model':<6} {'thr':>3} {'block':>5} {'provider':<22} {'torch mean/median/p95 ms':>26} "
        f"{'onnxruntime mean/median/p95 ms':>31} {'onnx/torch':>10} {'RTF torch/onnx':>15}"
    )
    lines += [header, "-" * len(header)]
    for r in results:
        audio_s = r["block_frames"] / 25.0
        for row in r["rows"]:
            tt, oo = row["torch"], row["onnx"]
            provider = row["providers"][0].replace("ExecutionProvider", "")
            lines.append(
                f"{r['model']:<6} {row['threads']:>3} {r['block_frames']:>5} {provider:<22} "
                f"{tt['mean_ms']:>8.1f} {tt['median_ms']:>8.1f} {tt['p95_ms']:>8.1f} "
                f"{oo['mean_ms']:>13.1f} {oo['median_ms']:>8.1f} {oo['p95_ms']:>8.1f} "
                f"{row['onnx_over_torch_median']:>10.2f} "
                f"{tt['mean_ms'] / 1e3 / audio_s:>7.3f}/{oo['mean_ms'] / 1e3 / audio_s:.3f}"
            )
    lines.append("")
    for r in results:
        files = ", ".join(f"{k} {v:.1f} MB" for k, v in r["files_mb"].items())
        sessions = ", ".join(f"{row['threads']} thr {row['session_s']:.1f} s" for row in r["rows"])
        lines.append(
            f"{r['model']} ({r['what']}, {r['params'] / 1e6:.1f} M params): export {r['export_s']:.1f} s "
            f"({files}); session creation {sessions}"
        )
        if "parity" in r:
            p = r["parity"]
            lines.append(
                f"  parity over {p['frames']} frames, same noise: max |onnx - torch| "
                f"{p['max_abs_diff']:.2e} (outputs up to {p['max_abs_output']:.2f})"
            )
    lines += [
        "",
        "onnx/torch: ratio of median block times (< 1: onnxruntime faster); RTF: mean block time /",
        "audio duration of the block (< 1: faster than real time).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="per-block generation time: torch vs onnxruntime")
    p.add_argument("--models", nargs="+", default=["small", "paper"], choices=["small", "paper"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="CPU thread counts (default 1 2)")
    p.add_argument("--blocks", type=int, help="timed blocks per backend (default: small 40, paper 8)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-parity", action="store_true", help="skip the torch/onnx difference check")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    require_onnxruntime()
    device = resolve_device(args.device)
    import os

    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results = [
        bench_model(m, args.threads, args.blocks or DEFAULT_BLOCKS[m], device, args.seed, not args.no_parity)
        for m in args.models
    ]
    machine = machine_info(device)
    machine["load_average_start"] = load_start
    print(format_results(machine, results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
