"""Speed and long-stream benchmarks of the streaming sampler (random weights, float32).

Two entry points, shared by `avatar-forcing bench`, `benchmarks/bench_generator.py` and
`benchmarks/long_stream.py`:

- `run_benchmark`: per preset, time per generated block (mean, p95 over warm blocks), real-time
  factor (compute time / audio duration of the frames produced; < 1 is faster than real time) and
  latency to first frame, for the official schedule (first 2-s call reported on its own, then
  blocks) and the realtime schedule (several block sizes), plus the speed ratio of the plain
  `ReferenceSampler` to `StreamingSampler` on the official schedule, measured in the same run.
- `run_long_stream`: a long realtime stream with flat memory (conditions generated block by block),
  checking that RSS and cache size stay bounded and the output stays finite and alive.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from .cache import GeneratorCache
from .conditions import Conditions
from .config import GeneratorConfig, SamplerConfig, get_preset
from .reference import ReferenceSampler
from .sampler import StreamingSampler
from .transformer import MotionGenerator

log = logging.getLogger(__name__)

# Warm blocks timed per preset when the caller does not say (keeps `avatar-forcing bench` within
# about 3 minutes on a 2-core CPU: the paper model needs ~1 s per block there).
DEFAULT_BLOCKS: dict[str, int] = {"paper": 8, "small": 30}
DEFAULT_BLOCKS_OTHER = 10


# --- helpers ----------------------------------------------------------------------------------
def randomize_weights(
    model: MotionGenerator, generator: torch.Generator, std: float = 0.05
) -> MotionGenerator:
    """Add N(0, std^2) to every parameter (in place) and return the model.

    The default adaLN-Zero init makes the velocity exactly zero, so a fresh model passes its noise
    through unchanged; perturbing every weight (as the official fixture's random weights are) gives
    a model whose output depends on conditions, context and cache.
    """
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator).to(p) * std)
    return model


class SmoothConditions:
    """Random but smooth condition features, generated block by block (memory stays flat).

    Each stream is a first-order low-pass of white noise, y_t = a y_(t-1) + sqrt(1 - a^2) w_t,
    so every feature has unit variance and a correlation time of about `smoothing_frames`.
    """

    def __init__(
        self,
        config: GeneratorConfig,
        batch: int = 1,
        smoothing_frames: float = 5.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.dims = (config.dim_cond, config.dim_cond, config.dim_motion)
        self.batch = batch
        self.a = math.exp(-1.0 / smoothing_frames)
        self.b = math.sqrt(1.0 - self.a**2)
        self.generator = generator
        self.state = torch.randn(batch, sum(self.dims), generator=generator)

    def next(self, frames: int) -> Conditions:
        w = torch.randn(self.batch, frames, self.state.shape[1], generator=self.generator)
        out = torch.empty_like(w)
        y = self.state
        for i in range(frames):
            y = self.a * y + self.b * w[:, i]
            out[:, i] = y
        self.state = y
        a, u, m = out.split(list(self.dims), dim=-1)
        return Conditions(a.contiguous(), u.contiguous(), m.contiguous())


def read_rss_bytes() -> int:
    """Resident set size of this process (VmRSS of /proc/self/status), 0 where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, threads, torch version, and the GPU when one is used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str) -> torch.device:
    """ "auto" (CUDA when this torch has it, else the CPU), "cpu", "cuda" or "cuda:N"; ValueError
    naming the fix when CUDA is asked for and this torch has none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r}: this torch ({torch.__version__}) has no usable CUDA; install a CUDA build "
            "of torch on a machine with an NVIDIA GPU, or use --device cpu"
        )
    return device


class _Sampler(Protocol):
    @property
    def next_block_frames(self) -> int: ...

    def reset(self, ref_motion: torch.Tensor) -> object: ...

    def step(
        self, cond: Conditions, noise: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


# --- speed benchmark --------------------------------------------------------------------------
@dataclass
class StreamTiming:
    """Timings of one sampler on one schedule."""

    preset: str
    schedule: str  # "official" or "realtime"
    sampler: str  # "streaming" or "reference"
    block_frames: int
    fps: int
    first_call_frames: int
    first_call_runs_s: list[float]  # the first call timed on fresh streams (reset before each)
    warmup_blocks: int
    block_s: list[float] = field(default_factory=list)

    @property
    def first_call_s(self) -> float:
        """Median first-call time over the fresh streams."""
        return statistics.median(self.first_call_runs_s)

    @property
    def block_mean_s(self) -> float:
        return statistics.fmean(self.block_s) if self.block_s else float("nan")

    @property
    def block_median_s(self) -> float:
        return statistics.median(self.block_s) if self.block_s else float("nan")

    @property
    def block_p95_s(self) -> float:
        if not self.block_s:
            return float("nan")
        ordered = sorted(self.block_s)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def rtf(self) -> float:
        """Compute time / audio duration over the warm blocks (< 1: faster than real time)."""
        return self.block_mean_s / (self.block_frames / self.fps)

    @property
    def first_call_rtf(self) -> float:
        return self.first_call_s / (self.first_call_frames / self.fps)

    @property
    def first_frame_latency_s(self) -> float:
        """Wait for the first call's input (its frames of audio) plus its compute."""
        return self.first_call_frames / self.fps + self.first_call_s

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            block_mean_s=self.block_mean_s,
            first_call_s=self.first_call_s,
            block_median_s=self.block_median_s,
            block_p95_s=self.block_p95_s,
            rtf=self.rtf,
            first_call_rtf=self.first_call_rtf,
            first_frame_latency_s=self.first_frame_latency_s,
        )
        return d


@dataclass
class PresetBenchmark:
    preset: str
    params: int
    timings: list[StreamTiming]

    def find(self, schedule: str, sampler: str, block: int | None = None) -> StreamTiming | None:
        for t in self.timings:
            if t.schedule == schedule and t.sampler == sampler and (block is None or t.block_frames == block):
                return t
        return None

    @property
    def reference_ratio(self) -> float:
        """ReferenceSampler / StreamingSampler mean warm-block time, official schedule."""
        ref, ours = self.find("official", "reference"), self.find("official", "streaming")
        return float("nan") if ref is None or ours is None else ref.block_mean_s / ours.block_mean_s

    @property
    def reference_median_ratio(self) -> float:
        """The same ratio from median block times (robust to interference spikes)."""
        ref, ours = self.find("official", "reference"), self.find("official", "streaming")
        return float("nan") if ref is None or ours is None else ref.block_median_s / ours.block_median_s

    @property
    def reference_first_call_ratio(self) -> float:
        ref, ours = self.find("official", "reference"), self.find("official", "streaming")
        return float("nan") if ref is None or ours is None else ref.first_call_s / ours.first_call_s

    def summary(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "params": self.params,
            "reference_over_streaming_block": self.reference_ratio,
            "reference_over_streaming_block_median": self.reference_median_ratio,
            "reference_over_streaming_first_call": self.reference_first_call_ratio,
            "timings": [t.summary() for t in self.timings],
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_streams(
    samplers: list[_Sampler],
    cfg: GeneratorConfig,
    ref: torch.Tensor,
    blocks: int,
    warmup: int,
    device: torch.device,
    generator: torch.Generator,
    tick: Callable[[], None] = lambda: None,
    first_repeats: int = 1,
) -> list[tuple[list[float], int, list[float]]]:
    """Time one stream per sampler, the samplers taking turns call by call (round robin).

    Interleaving makes a slowdown caused by other work on the machine hit every sampler alike,
    so ratios between them stay meaningful on a shared machine. Each sampler: the first call is
    timed on `first_repeats` fresh streams (reset before each); on the last, `warmup` untimed
    blocks, then `blocks` timed blocks. Each sampler has its own smooth condition stream.

    Returns, per sampler: (first-call seconds of each fresh stream, first-call frames, block seconds).
    """
    conds = [SmoothConditions(cfg, generator=generator) for _ in samplers]

    def one(i: int) -> tuple[float, int]:
        sampler = samplers[i]
        n = sampler.next_block_frames
        cond = conds[i].next(n)
        noise = torch.randn(ref.shape[0], n, ref.shape[1], generator=generator).to(device)
        cond = Conditions(*(x.to(device) for x in (cond.avatar_audio, cond.user_audio, cond.user_motion)))
        _sync(device)
        start = time.perf_counter()
        out = sampler.step(cond, noise)
        _sync(device)
        elapsed = time.perf_counter() - start
        if not torch.isfinite(out).all():
            raise RuntimeError("the sampler produced non-finite values")
        tick()
        return elapsed, n

    idx = range(len(samplers))
    first_s: list[list[float]] = [[] for _ in idx]
    first_n = [0 for _ in idx]
    block_s: list[list[float]] = [[] for _ in idx]
    for _ in range(max(1, first_repeats)):
        for i in idx:
            samplers[i].reset(ref)
            elapsed, first_n[i] = one(i)
            first_s[i].append(elapsed)
    for _ in range(warmup):
        for i in idx:
            one(i)
    for _ in range(blocks):
        for i in idx:
            block_s[i].append(one(i)[0])
    return [(first_s[i], first_n[i], block_s[i]) for i in idx]


def realtime_fill_blocks(cfg: GeneratorConfig, block: int) -> int:
    """Blocks after the first until a realtime stream's self-attention cache is full.

    The cache holds window - block - context frames; after k blocks it holds k * block - context.
    """
    max_self = cfg.window_frames - block - cfg.context_frames
    return max(0, math.ceil((max_self + cfg.context_frames) / block) - 1)


def bench_preset(
    name: str,
    device: torch.device,
    blocks: int,
    warmup: int,
    realtime_blocks: list[int],
    reference: bool = True,
    seed: int = 0,
    tick: Callable[[], None] = lambda: None,
    first_repeats: int = 3,
    backend: str = "torch",
) -> PresetBenchmark:
    """Time one preset: official (streaming and reference, interleaved) and realtime per block size.

    `backend` ("torch" or "onnx") evaluates the StreamingSampler's network; the ReferenceSampler
    baseline always runs on torch."""
    cfg = get_preset(name).generator
    g = torch.Generator().manual_seed(seed)
    model = randomize_weights(MotionGenerator(cfg), g).to(device=device, dtype=torch.float32).eval()
    if backend != "torch":
        import tempfile

        from .backend import use_backend

        with tempfile.TemporaryDirectory(prefix="avatar-forcing-bench-") as tmp:  # random weights: no cache
            use_backend(model, backend, cache_root=tmp)
    params = sum(p.numel() for p in model.parameters())
    ref = torch.randn(1, cfg.dim_motion, generator=g).to(device)
    timings: list[StreamTiming] = []
    # Groups of samplers timed together (interleaved): (schedule, block, kinds).
    groups: list[tuple[str, int, list[str]]] = [
        ("official", cfg.block_frames, ["streaming", "reference"] if reference else ["streaming"])
    ]
    groups += [("realtime", b, ["streaming"]) for b in realtime_blocks]

    with torch.inference_mode():
        # Untimed warm-up of the kernels and allocator (one short realtime block).
        warm = StreamingSampler(model, SamplerConfig(schedule="realtime", block_frames=cfg.block_frames))
        time_streams([warm], cfg, ref, 0, 1, device, g)
        for schedule, block, kinds in groups:
            sam_cfg = SamplerConfig(schedule=schedule, block_frames=block if schedule == "realtime" else None)
            samplers: list[_Sampler] = [
                ReferenceSampler(model, sam_cfg) if kind == "reference" else StreamingSampler(model, sam_cfg)
                for kind in kinds
            ]
            fill = realtime_fill_blocks(cfg, block) if schedule == "realtime" else 0
            n_warm = max(warmup, fill)
            log.info(
                "%s %s %s block %d: %d warm-up + %d timed blocks",
                name,
                schedule,
                kinds,
                block,
                n_warm,
                blocks,
            )
            measured = time_streams(samplers, cfg, ref, blocks, n_warm, device, g, tick, first_repeats)
            for kind, (first_s, first_n, block_s) in zip(kinds, measured, strict=True):
                timings.append(
                    StreamTiming(name, schedule, kind, block, cfg.fps, first_n, first_s, n_warm, block_s)
                )
    return PresetBenchmark(name, params, timings)


def planned_steps(
    name: str, blocks: int, warmup: int, realtime_blocks: list[int], reference: bool, first_repeats: int
) -> int:
    """Sampler calls `bench_preset` makes after its warm-up (for a progress bar)."""
    cfg = get_preset(name).generator
    first = max(1, first_repeats)
    per_official = first + warmup + blocks
    total = per_official * (2 if reference else 1)
    for b in realtime_blocks:
        total += first + max(warmup, realtime_fill_blocks(cfg, b)) + blocks
    return total


def run_benchmark(
    presets: list[str],
    device: torch.device,
    blocks: int | None = None,
    warmup: int = 1,
    realtime_blocks: list[int] | None = None,
    reference: bool = True,
    seed: int = 0,
    progress: bool = True,
    first_repeats: int = 3,
    backend: str = "torch",
) -> dict[str, Any]:
    """Benchmark each preset; returns a JSON-ready dict with the machine and all figures."""
    from tqdm import tqdm

    rt_blocks = realtime_blocks or [10, 4]
    per_preset = {
        p: blocks if blocks is not None else DEFAULT_BLOCKS.get(p, DEFAULT_BLOCKS_OTHER) for p in presets
    }
    total = sum(planned_steps(p, per_preset[p], warmup, rt_blocks, reference, first_repeats) for p in presets)
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results: list[PresetBenchmark] = []
    with tqdm(total=total, desc="bench", unit="call", disable=not progress, leave=False) as bar:
        for p in presets:
            bar.set_postfix_str(p)
            results.append(
                bench_preset(
                    p,
                    device,
                    per_preset[p],
                    warmup,
                    rt_blocks,
                    reference,
                    seed,
                    lambda: bar.update(1),
                    first_repeats,
                    backend,
                )
            )
    machine = machine_info(device)
    machine["load_average_start"] = load_start
    return {
        "machine": machine,
        "settings": {
            "blocks": per_preset,
            "warmup": warmup,
            "realtime_blocks": rt_blocks,
            "first_repeats": first_repeats,
            "dtype": "float32",
            "seed": seed,
            "backend": backend,
        },
        "presets": [r.summary() for r in results],
        "_results": results,
    }


def _loads(values: list[float] | None) -> str:
    return "n/a" if not values else " ".join(f"{x:.2f}" for x in values)


def format_report(report: dict[str, Any]) -> str:
    """Human-readable table of a `run_benchmark` report."""
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
        f"torch {m['torch']}, device {m['device']}"
        + (f" ({m['gpu']})" if "gpu" in m else "")
        + f", generator backend {report.get('settings', {}).get('backend', 'torch')}",
        f"date: {m['date']}; load average (1, 5, 15 min) at start: {_loads(m.get('load_average_start'))}, "
        f"at end: {_loads(m['load_average'])}",
        "",
    ]
    header = (
        f"{'preset':<7} {'schedule':<9} {'sampler':<10} {'block':>5} {'blocks':>6} "
        f"{'first call':>16} {'block mean':>11} {'median':>9} {'p95':>9} {'RTF':>6} {'first frame':>12}"
    )
    lines += [header, "-" * len(header)]
    results: list[PresetBenchmark] = report["_results"]
    for r in results:
        for t in r.timings:
            first = f"{t.first_call_s * 1e3:8.1f} ms/{t.first_call_frames:>3}f"  # median
            lines.append(
                f"{t.preset:<7} {t.schedule:<9} {t.sampler:<10} {t.block_frames:>5} {len(t.block_s):>6} "
                f"{first:>16} {t.block_mean_s * 1e3:8.1f} ms {t.block_median_s * 1e3:6.1f} ms "
                f"{t.block_p95_s * 1e3:6.1f} ms "
                f"{t.rtf:6.3f} {t.first_frame_latency_s:10.3f} s"
            )
    lines.append("")
    for r in results:
        lines.append(
            f"{r.preset} ({r.params / 1e6:.1f} M params): ReferenceSampler / StreamingSampler (official) = "
            f"{r.reference_ratio:.2f}x per block (mean; {r.reference_median_ratio:.2f}x by median), "
            f"{r.reference_first_call_ratio:.2f}x on the first 2-s call"
        )
    lines += [
        "",
        "first call: median over fresh streams (the official one is the 2-s window);",
        "block mean / median / p95: compute per sampler call after warm-up;",
        "RTF: mean block compute / audio duration of its frames (< 1: faster than real time);",
        "first frame: input the first call needs (its frames / fps) + its compute.",
    ]
    return "\n".join(lines)


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without in-memory objects (for JSON)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


# --- long stream ------------------------------------------------------------------------------
@dataclass
class LongStreamResult:
    frames: int
    block_frames: int
    fps: int
    seconds: float  # compute time of the sampler steps (conditions and noise generation excluded)
    rss_start: int  # bytes, after the model is built, before streaming
    rss_after_warmup: int
    rss_end: int
    rss_max: int
    cache_bytes_after_warmup: int
    cache_bytes_min: int  # over blocks after warm-up
    cache_bytes_max: int
    cache_shapes_constant: bool
    finite: bool
    max_abs: float
    last_minute_min_std: float  # smallest per-dimension std over the last minute of output
    last_minute_frames: int
    max_abs_limit: float
    min_std_limit: float
    rss_growth_limit: int
    rss_samples: list[tuple[int, int]] = field(default_factory=list)  # (frame, bytes)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def rtf(self) -> float:
        return self.seconds / (self.frames / self.fps)

    @property
    def rss_growth(self) -> int:
        return self.rss_end - self.rss_after_warmup

    def checks(self) -> dict[str, bool]:
        return {
            "output finite (no NaN/Inf)": self.finite,
            f"max |x| <= {self.max_abs_limit:g}": self.max_abs <= self.max_abs_limit,
            f"per-dimension std over the last minute > {self.min_std_limit:g}": self.last_minute_min_std
            > self.min_std_limit,
            "cache bytes constant after warm-up": self.cache_bytes_min == self.cache_bytes_max,
            "cache tensor shapes constant after warm-up": self.cache_shapes_constant,
            f"RSS growth after warm-up <= {self.rss_growth_limit / 2**20:.0f} MiB": self.rss_growth
            <= self.rss_growth_limit,
        }

    @property
    def passed(self) -> bool:
        return all(self.checks().values())

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            frames_per_s=self.frames_per_s,
            rtf=self.rtf,
            rss_growth=self.rss_growth,
            checks=self.checks(),
            passed=self.passed,
        )
        return d


def cache_shapes(c: GeneratorCache) -> list[tuple[int, ...]]:
    """Shapes of every tensor a stream's cache holds."""
    shapes: list[tuple[int, ...]] = []
    for kvs in (c.self_kv or [], c.cross_kv or []):
        for k, v in kvs:
            shapes += [tuple(k.shape), tuple(v.shape)]
    if c.context is not None:
        shapes.append(tuple(c.context.shape))
    if c.context_cond is not None:
        cc = c.context_cond
        shapes += [tuple(x.shape) for x in (cc.avatar_audio, cc.user_audio, cc.user_motion)]
    return shapes


class RandomStream:
    """A realtime stream on a random model with smooth random conditions, advanced block by block.

    Conditions and noise are made on the fly, so nothing grows with the length of the stream.
    The model is built in the constructor (so memory measured afterwards includes it).
    """

    def __init__(
        self,
        config: GeneratorConfig,
        block_frames: int | None = None,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)
        model = randomize_weights(MotionGenerator(config), self.generator).to(self.device).eval()
        self.sampler = StreamingSampler(model, SamplerConfig(schedule="realtime", block_frames=block_frames))
        self.conds = SmoothConditions(config, generator=self.generator)
        self.sampler.reset(torch.randn(1, config.dim_motion, generator=self.generator).to(self.device))

    @property
    def cache(self) -> GeneratorCache:
        assert self.sampler.cache is not None
        return self.sampler.cache

    def step(self, frames: int | None = None) -> tuple[torch.Tensor, float]:
        """Generate the next block (default: a full block); returns (motion (1, n, D), step seconds)."""
        n = frames or self.sampler.block
        dev = self.device
        cond = self.conds.next(n)
        cond = Conditions(*(x.to(dev) for x in (cond.avatar_audio, cond.user_audio, cond.user_motion)))
        noise = torch.randn(1, n, self.config.dim_motion, generator=self.generator).to(dev)
        _sync(dev)
        start = time.perf_counter()
        out = self.sampler.step(cond, noise)
        _sync(dev)
        return out, time.perf_counter() - start


def run_long_stream(
    config: GeneratorConfig,
    frames: int,
    block_frames: int | None = None,
    warmup_frames: int | None = None,
    sample_every_frames: int = 250,
    seed: int = 0,
    max_abs_limit: float = 100.0,
    min_std_limit: float = 1e-3,
    rss_growth_limit: int = 64 * 2**20,
    progress: bool = False,
) -> LongStreamResult:
    """Run a realtime stream of `frames` frames and measure memory, cache size, speed and output health.

    Warm-up (default: one minute, at least two attention windows, at most half the stream) ends
    the period in which the cache is allowed to grow.
    """
    from tqdm import tqdm

    fps = config.fps
    if warmup_frames is None:
        warmup_frames = min(max(60 * fps, 2 * config.window_frames), frames // 2)
    last_n = min(60 * fps, max(frames - warmup_frames, 1))
    tail: collections.deque[torch.Tensor] = collections.deque()
    tail_frames = 0
    finite = True
    max_abs = 0.0
    cache_ref_shapes: list[tuple[int, ...]] | None = None
    shapes_constant = True
    cache_after = cache_min = cache_max = 0
    done = 0
    next_sample = sample_every_frames
    warmed = False
    elapsed = 0.0
    stream = RandomStream(config, block_frames, seed)
    rss_start = read_rss_bytes()
    rss_after_warmup = rss_max = rss_start
    samples: list[tuple[int, int]] = [(0, rss_start)]
    with tqdm(total=frames, unit="frame", disable=not progress, mininterval=2.0) as bar:
        while done < frames:
            out, step_s = stream.step(min(stream.sampler.block, frames - done))
            elapsed += step_s
            n = out.shape[1]
            done += n
            bar.update(n)
            finite = finite and bool(torch.isfinite(out).all())
            max_abs = max(max_abs, float(out.abs().max()))
            tail.append(out[0].detach().clone())
            tail_frames += n
            while tail_frames - tail[0].shape[0] >= last_n:
                tail_frames -= tail.popleft().shape[0]
            nbytes = stream.cache.nbytes()
            if warmed:
                shapes_constant = shapes_constant and cache_shapes(stream.cache) == cache_ref_shapes
                cache_min, cache_max = min(cache_min, nbytes), max(cache_max, nbytes)
            elif done >= warmup_frames:
                warmed = True
                cache_ref_shapes = cache_shapes(stream.cache)
                cache_after = cache_min = cache_max = nbytes
                rss_after_warmup = read_rss_bytes()
                samples.append((done, rss_after_warmup))
                log.info(
                    "warm-up done at frame %d: RSS %.1f MiB, cache %d bytes",
                    done,
                    rss_after_warmup / 2**20,
                    nbytes,
                )
            if done >= next_sample:
                rss = read_rss_bytes()
                rss_max = max(rss_max, rss)
                samples.append((done, rss))
                next_sample += sample_every_frames
                bar.set_postfix_str(f"RSS {rss / 2**20:.0f} MiB, cache {nbytes} B")
    rss_end = read_rss_bytes()
    rss_max = max(rss_max, rss_end, rss_after_warmup)
    samples.append((done, rss_end))
    last = torch.cat(list(tail), dim=0)[-last_n:]
    min_std = float(last.std(dim=0).min()) if last.shape[0] > 1 else 0.0
    return LongStreamResult(
        frames=done,
        block_frames=block_frames or config.block_frames,
        fps=fps,
        seconds=elapsed,
        rss_start=rss_start,
        rss_after_warmup=rss_after_warmup,
        rss_end=rss_end,
        rss_max=rss_max,
        cache_bytes_after_warmup=cache_after,
        cache_bytes_min=cache_min,
        cache_bytes_max=cache_max,
        cache_shapes_constant=shapes_constant and warmed,
        finite=finite,
        max_abs=max_abs,
        last_minute_min_std=min_std,
        last_minute_frames=int(last.shape[0]),
        max_abs_limit=max_abs_limit,
        min_std_limit=min_std_limit,
        rss_growth_limit=rss_growth_limit,
        rss_samples=samples,
    )


def format_long_stream(r: LongStreamResult, machine: dict[str, Any] | None = None) -> str:
    mib = 2**20
    lines = []
    if machine:
        lines.append(
            f"machine: {machine['cpu']}, {machine['cores']} cores "
            f"({machine['torch_threads']} torch threads), torch {machine['torch']}, {machine['date']}"
        )
    lines += [
        f"frames: {r.frames} ({r.frames / r.fps / 60:.1f} min of motion at {r.fps} fps), "
        f"block {r.block_frames} frames",
        f"compute: {r.seconds:.1f} s, {r.frames_per_s:.1f} frames/s, real-time factor {r.rtf:.3f}",
        f"RSS: start {r.rss_start / mib:.1f} MiB, after warm-up {r.rss_after_warmup / mib:.1f} MiB, "
        f"end {r.rss_end / mib:.1f} MiB, max {r.rss_max / mib:.1f} MiB "
        f"(growth after warm-up {r.rss_growth / mib:+.2f} MiB)",
        f"cache: {r.cache_bytes_after_warmup} bytes after warm-up, "
        f"min {r.cache_bytes_min}, max {r.cache_bytes_max}",
        f"output: max |x| {r.max_abs:.3f}, smallest per-dimension std over the last "
        f"{r.last_minute_frames} frames {r.last_minute_min_std:.4f}",
    ]
    for name, ok in r.checks().items():
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}")
    lines.append("PASS" if r.passed else "FAIL")
    return "\n".join(lines)
