#!/usr/bin/env python
"""What one block of the paper path costs, part by part, torch vs onnxruntime; sessions per device.

The paper preset with RANDOM weights in the official shapes (`PaperComponents.random(PAPER)`:
generator, wav2vec2-base-sized audio encoder, 512x512 motion autoencoder), realtime schedule
(10-frame blocks, nfe 10, guidance). Per block it times:

- audio features, both sides: 10 frames (0.4 s at 16 kHz) pushed into each side's causal wav2vec2
  stream (one 3-s window + projection per side per block), after the context is full;
- generator step: one `StreamingSampler.step` of the block with the cache full, on torch and on the
  onnx generator backend (`models.generator.backend.use_backend`);
- decode: the block's 10 motion latents -> 10 frames in one batched call, on torch and on the onnx
  decoder (`models.paper.onnx_decoder`), plus the difference between the two;
- user face crops: 10 crops (S x S uint8) -> motion latents (resize + motion encoder);
- portrait encode, once per avatar (not part of the block).

Sessions per device = floor(block duration / per-block compute), each stream on its own; below 1 the
stream does not keep up ("not real time", reported as 1 with its real-time factor). On a shared
machine the figures move with other work: the load averages are recorded.

python benchmarks/bench_paper.py --threads 2 --repeats 1 --json paper.json
python benchmarks/bench_paper.py --tiny                       # a quick run on the tiny geometry
python benchmarks/bench_paper.py --device cuda                # GPU: torch on CUDA, onnxruntime CUDA EP
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.generator.backend import set_backend, use_backend
from models.generator.benchmark import (
    SmoothConditions,
    machine_info,
    realtime_fill_blocks,
    resolve_device,
)
from models.generator.conditions import Conditions
from models.generator.onnx_backend import require_onnxruntime
from models.generator.sampler import StreamingSampler
from models.paper.audio import SAMPLE_RATE, SAMPLES_PER_FRAME
from models.paper.onnx_decoder import decoder_for
from models.paper.pipeline import PaperAudioStream, PaperComponents, to_model_images
from models.paper.weights_folder import PAPER, PaperConfig

log = logging.getLogger("bench_paper")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int = 1
) -> tuple[list[float], Any]:
    """Seconds of each of `repeats` calls of fn (after `warmup` untimed ones), and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times, out


def _summary(xs: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(xs), "min_s": min(xs), "runs_s": xs}


def sessions(block_s: float, compute_s: float) -> tuple[int, bool]:
    """(sessions per device, real time?) for one stream's per-block compute."""
    n = math.floor(block_s / compute_s) if compute_s > 0 else 0
    return max(1, n), n >= 1


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    config = PaperConfig.tiny() if args.tiny else PAPER
    start = time.perf_counter()
    components = PaperComponents.random(config, seed=args.seed, device=device)
    build_s = time.perf_counter() - start
    gen, ae = components.generator, components.autoencoder
    cfg = gen.config
    sampler_config = config.sampler
    block = sampler_config.block_frames or cfg.block_frames
    fps = cfg.fps
    size = components.size
    rng = np.random.default_rng(args.seed)
    r: dict[str, Any] = {
        "preset": "tiny" if args.tiny else "paper",
        "weights": "random, official names and shapes",
        "build_s": build_s,
        "params_m": {
            "generator": sum(p.numel() for p in gen.parameters()) / 1e6,
            "wav2vec2": sum(p.numel() for p in components.features.parameters()) / 1e6,
            "autoencoder": sum(p.numel() for p in ae.parameters()) / 1e6,
        },
        "frame_size": size,
        "block_frames": block,
        "block_s": block / fps,
        "sampler": {"schedule": sampler_config.schedule, "nfe": sampler_config.nfe},
        "threads": args.threads,
        "repeats": args.repeats,
    }
    log.info("built the %s components in %.1f s", r["preset"], build_s)

    with torch.inference_mode():
        # portrait, once per avatar
        portrait = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        times, source = timed(
            lambda: ae.encode(to_model_images(portrait, size, device)), device, args.repeats
        )
        r["portrait_encode"] = _summary(times)

        # user face crops of one block
        crops = rng.integers(0, 256, (block, size, size, 3), dtype=np.uint8)

        def encode_crops() -> torch.Tensor:
            return ae.motion_latent(ae.encode_motion(to_model_images(crops, size, device)))

        times, _ = timed(encode_crops, device, args.repeats)
        r["user_encode"] = _summary(times)
        log.info("portrait %.3f s, user crops %.3f s", r["portrait_encode"]["median_s"], times[0])

        # audio features, both sides, after the context window is full
        sides = [PaperAudioStream(components.features, components.projection, hop_frames=block) for _ in "au"]
        voice = rng.normal(0.0, 0.1, SAMPLE_RATE * 4).astype(np.float32)
        for s in sides:
            s.push(voice[: SAMPLE_RATE * 3], SAMPLE_RATE)  # 3 s: the context window
        chunk = voice[: block * SAMPLES_PER_FRAME]
        frames_out: list[int] = []

        def audio_block() -> None:
            for s in sides:
                frames_out.append(len(s.push(chunk, SAMPLE_RATE)))

        times, _ = timed(audio_block, device, args.repeats, warmup=1)
        r["audio_both_sides"] = _summary(times)
        r["audio_frames_per_push"] = frames_out[-1]
        log.info("audio (both sides) %.3f s", times[0])

        # generator step, torch then onnx, cache full
        conds = SmoothConditions(cfg, generator=torch.Generator().manual_seed(args.seed))
        fill = realtime_fill_blocks(cfg, block) + 1

        def stream_blocks() -> tuple[list[float], torch.Tensor]:
            sampler = StreamingSampler(gen, sampler_config)
            sampler.reset(source.motion)
            g = torch.Generator(device=device).manual_seed(args.seed)

            def one() -> torch.Tensor:
                c = conds.next(sampler.next_block_frames)
                c = Conditions(*(x.to(device) for x in (c.avatar_audio, c.user_audio, c.user_motion)))
                return sampler.step(c, generator=g)

            return timed(one, device, args.repeats, warmup=fill)

        gen_torch, motion = stream_blocks()  # motion (1, block, D)
        r["generator_torch"] = _summary(gen_torch)
        log.info("generator torch %.3f s", gen_torch[0])
        motion = motion[0]  # (block, D)
        # decode, torch
        dec_torch, frames_torch = timed(
            lambda: ae.decode(source.identity, source.feats, motion), device, args.repeats
        )
        r["decode_torch"] = _summary(dec_torch)
        log.info("decode torch %.3f s", dec_torch[0])

        if not args.no_onnx:
            ort = require_onnxruntime()
            r["onnxruntime"] = ort.__version__
            start = time.perf_counter()
            backend = use_backend(
                gen, "onnx", cache_root=args.cache_root, providers=args.providers, threads=args.threads
            )
            r["generator_onnx_setup_s"] = time.perf_counter() - start
            r["providers"] = list(getattr(backend, "providers", []))
            try:
                gen_onnx, _ = stream_blocks()
            finally:
                set_backend(gen, None)
            r["generator_onnx"] = _summary(gen_onnx)
            log.info("generator onnx %.3f s", gen_onnx[0])
            start = time.perf_counter()
            decoder = decoder_for(ae, "onnx", args.cache_root, args.providers, args.threads)
            r["decoder_onnx_setup_s"] = time.perf_counter() - start
            r["decoder_providers"] = list(getattr(decoder, "providers", []))
            dec_onnx, frames_onnx = timed(
                lambda: decoder.decode(source.identity, source.feats, motion), device, args.repeats
            )
            r["decode_onnx"] = _summary(dec_onnx)
            log.info("decode onnx %.3f s", dec_onnx[0])
            diff = (frames_onnx.float() - frames_torch.float()).abs()

            def u8(x: torch.Tensor) -> torch.Tensor:
                return ((x.float().clamp(-1, 1) + 1) * 127.5).round()

            levels = (u8(frames_onnx) - u8(frames_torch)).abs()
            r["decode_parity"] = {
                "max_abs_diff": float(diff.max()),
                "mean_abs_diff": float(diff.mean()),
                "max_abs_output": float(frames_torch.abs().max()),
                "uint8_max_levels": float(levels.max()),
                "uint8_fraction_over_1_level": float((levels > 1).float().mean()),
                "max_abs_motion": float(motion.abs().max()),
            }
            if not args.no_reference:
                # Yardstick: the frame where the backends differ most, decoded in float64. With
                # random weights the decoder is ill-conditioned (isolated pixels jump under float32
                # rounding), so onnx's error is judged against torch float32's own error.
                k = int(diff.flatten(1).amax(1).argmax())
                ae64 = copy.deepcopy(ae).double()
                ref = ae64.decode(
                    source.identity.double(), [f.double() for f in source.feats], motion[k : k + 1].double()
                )
                del ae64
                for name, x in (("torch", frames_torch), ("onnx", frames_onnx)):
                    err = (x[k : k + 1].double() - ref).abs()
                    r["decode_parity"][f"{name}_vs_float64"] = {
                        "frame": k,
                        "max_abs_diff": float(err.max()),
                        "mean_abs_diff": float(err.mean()),
                    }

    # per-block totals and sessions
    per_block = {
        "audio_both_sides": r["audio_both_sides"]["median_s"],
        "user_encode": r["user_encode"]["median_s"],
    }
    totals: dict[str, Any] = {}
    for name in ("torch", "onnx"):
        if f"generator_{name}" not in r:
            continue
        parts = {
            **per_block,
            "generator": r[f"generator_{name}"]["median_s"],
            "decode": r[f"decode_{name}"]["median_s"],
        }
        total = sum(parts.values())
        n, realtime = sessions(r["block_s"], total)
        totals[name] = {
            "parts_s": parts,
            "per_block_s": total,
            "rtf": total / r["block_s"],
            "sessions": n,
            "real_time": realtime,
            "decode_per_frame_s": parts["decode"] / block,
        }
    r["totals"] = totals
    return r


def format_result(machine: dict[str, Any], r: dict[str, Any]) -> str:
    gpu = f" ({machine['gpu']})" if "gpu" in machine else ""
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores; device {machine['device']}{gpu}; torch "
        f"{machine['torch']}, onnxruntime {r.get('onnxruntime', '-')}, providers "
        f"{', '.join(r.get('providers', [])) or '-'}; threads {r['threads']}",
        f"date {machine['date']}; load average at start {machine.get('load_average_start')}, at end "
        f"{machine.get('load_average')} (a shared machine: other work moves the figures)",
        f"preset {r['preset']} ({r['weights']}), {r['frame_size']}x{r['frame_size']} frames, "
        f"{r['sampler']['schedule']} schedule nfe {r['sampler']['nfe']}, block {r['block_frames']} "
        f"frames = {r['block_s']:.2f} s; params (M): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["params_m"].items())
        + f"; built in {r['build_s']:.1f} s; median of {r['repeats']} run(s)",
        "",
        f"{'per block':<34} {'torch s':>9} {'onnx s':>9}",
    ]

    def row(label: str, t: float | None, o: float | None) -> str:
        f = lambda v: f"{v:>9.3f}" if v is not None else f"{'-':>9}"  # noqa: E731
        return f"{label:<34} {f(t)} {f(o)}"

    med = lambda key: r[key]["median_s"] if key in r else None  # noqa: E731
    lines += [
        row("audio features, both sides", med("audio_both_sides"), med("audio_both_sides")),
        row("user face crops -> motion", med("user_encode"), med("user_encode")),
        row("generator step", med("generator_torch"), med("generator_onnx")),
        row(f"decode {r['block_frames']} frames (batched)", med("decode_torch"), med("decode_onnx")),
    ]
    t, o = r["totals"].get("torch"), r["totals"].get("onnx")
    lines.append(row("total per block", t and t["per_block_s"], o and o["per_block_s"]))
    lines.append(row("decode per frame", t and t["decode_per_frame_s"], o and o["decode_per_frame_s"]))
    lines.append(row("portrait encode (once per avatar)", med("portrait_encode"), None))
    lines.append("")
    for name, tot in r["totals"].items():
        verdict = "real time" if tot["real_time"] else "not real time"
        lines.append(
            f"{name}: real-time factor {tot['rtf']:.2f} -> sessions per device {tot['sessions']} ({verdict})"
        )
    if "decode_parity" in r:
        p = r["decode_parity"]
        lines.append(
            f"decode onnx vs torch: max |diff| {p['max_abs_diff']:.2e} (outputs up to "
            f"{p['max_abs_output']:.2f}), mean {p['mean_abs_diff']:.2e}; uint8: max "
            f"{p['uint8_max_levels']:.0f} levels, {100 * p['uint8_fraction_over_1_level']:.4f} % of values "
            "off by more than 1"
        )
        for name in ("torch", "onnx"):
            q = p.get(f"{name}_vs_float64")
            if q:
                lines.append(
                    f"  frame {q['frame']} vs a float64 torch decode: {name} float32 max |diff| "
                    f"{q['max_abs_diff']:.2e}, mean {q['mean_abs_diff']:.2e}"
                )
    if "generator_onnx_setup_s" in r:
        lines.append(
            f"onnx setup (export on first use + session): generator {r['generator_onnx_setup_s']:.1f} s, "
            f"decoder {r['decoder_onnx_setup_s']:.1f} s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="per-block cost of the paper path, torch vs onnxruntime")
    p.add_argument("--tiny", action="store_true", help="the tiny geometry (a quick run)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads (torch + ort)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each part (median)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when present), cpu or cuda")
    p.add_argument("--providers", default="auto", choices=["auto", "cpu", "cuda"], help="onnxruntime EPs")
    p.add_argument("--cache-root", type=Path, help="ONNX export cache (default: the generator's)")
    p.add_argument("--no-onnx", action="store_true", help="torch only")
    p.add_argument("--no-reference", action="store_true", help="skip the float64 decode of one frame")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result = run(args)
    machine = machine_info(resolve_device(args.device))
    machine["load_average_start"] = load_start
    print(format_result(machine, result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "result": result}, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
