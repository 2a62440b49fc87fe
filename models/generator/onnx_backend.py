"""The `onnx` generator backend: the sampler's network evaluations on onnxruntime.

`OnnxBackend` runs the graphs of `onnx_export` (conditions.onnx once per block, step.onnx per
denoising step and for the cache refresh) behind the `backend.GeneratorBackend` interface, so
`StreamingSampler._denoise` stays the one denoising loop for both backends. The sampler keeps its
caches as torch tensors (per layer, as the torch backend has them); this class converts at the
boundary: per-layer key/value lists are stacked to the graphs' (L, B, H, S, Dh) inputs once per
block (the sampler hands the same lists to every step of a block, which is remembered), outputs
come back as views of the graphs' stacked outputs.

Providers: CUDA first when onnxruntime has it (the onnxruntime-gpu wheel), else CPU. Tensors on
another device than the CPU are copied through host memory at each call (correct everywhere; a
CUDA deployment that wants no copies would bind device buffers with I/O binding).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .conditions import Conditions
from .config import GeneratorConfig
from .onnx_export import (
    CONDITION_INPUTS,
    CONDITIONS_FILE,
    STEP_FILE,
    STEP_INPUTS,
    OnnxUnavailableError,
    cached_export,
    graphs_hash,
    manifest_config,
    read_manifest,
)
from .transformer import KV, MotionGenerator, StepOutput

log = logging.getLogger(__name__)

PROVIDER_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def require_onnxruntime() -> Any:
    """The onnxruntime module, or an error that says how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise OnnxUnavailableError(
            "the onnx backend needs onnxruntime: pip install onnxruntime "
            "(or onnxruntime-gpu for the CUDA provider)"
        ) from None
    return onnxruntime


def resolve_providers(which: str = "auto") -> list[str]:
    """onnxruntime execution providers for "auto" (CUDA when available, else CPU), "cpu" or "cuda"."""
    ort = require_onnxruntime()
    if which not in PROVIDER_CHOICES:
        raise ValueError(f"unknown provider choice {which!r}; valid: {list(PROVIDER_CHOICES)}")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if which == "cuda" and not has_cuda:
        raise OnnxUnavailableError(
            "onnxruntime here has no CUDAExecutionProvider: pip install onnxruntime-gpu "
            "(in place of onnxruntime)"
        )
    if which == "cuda" or (which == "auto" and has_cuda):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _array(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """A C-contiguous host array of `x` (no copy for contiguous CPU tensors of that dtype)."""
    return x.detach().to("cpu", dtype).contiguous().numpy()


class _StackedKV:
    """Per-layer K/V lists stacked to (L, B, H, S, Dh) arrays, remembered for the list seen last.

    The sampler passes the same list object to every step of a block; holding it keeps its id
    from being reused, and the layer tensors are compared too, so a stale stack is never served.
    The memo is one tuple, read and replaced whole (safe if two threads share a backend)."""

    def __init__(self) -> None:
        self._memo: tuple[list[KV], list[tuple[int, int]], tuple[np.ndarray, np.ndarray]] | None = None

    def get(self, kvs: list[KV]) -> tuple[np.ndarray, np.ndarray]:
        ids = [(id(k), id(v)) for k, v in kvs]
        memo = self._memo
        if memo is not None and memo[0] is kvs and memo[1] == ids:
            return memo[2]
        arrays = (_array(torch.stack([k for k, _ in kvs])), _array(torch.stack([v for _, v in kvs])))
        self._memo = (kvs, ids, arrays)
        return arrays


class OnnxBackend:
    """A generator's network evaluations on onnxruntime (see the module doc).

    Holds no reference to the torch model (it is attached to it by `backend.set_backend`)."""

    name = "onnx"

    def __init__(
        self,
        directory: str | Path,
        providers: str | list[str] = "auto",
        threads: int | None = None,
    ) -> None:
        ort = require_onnxruntime()
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.config: GeneratorConfig = manifest_config(self.manifest)
        self.hash: str = self.manifest["hash"]
        options = ort.SessionOptions()
        self.threads = int(threads or torch.get_num_threads())
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: shape-inference notes on dynamic axes are noise
        chosen = resolve_providers(providers) if isinstance(providers, str) else list(providers)
        self._conditions = ort.InferenceSession(
            str(self.directory / CONDITIONS_FILE), options, providers=chosen
        )
        self._step = ort.InferenceSession(str(self.directory / STEP_FILE), options, providers=chosen)
        self.providers: list[str] = list(self._step.get_providers())
        self._past = _StackedKV()
        self._cross = _StackedKV()

    @classmethod
    def for_model(
        cls,
        model: MotionGenerator,
        onnx_dir: str | Path | None = None,
        cache_root: str | Path | None = None,
        providers: str | list[str] = "auto",
        threads: int | None = None,
    ) -> OnnxBackend:
        """The backend of `model`: the graphs in `onnx_dir` (which must have been exported from these
        weights), else the cached export (exported now on first use)."""
        require_onnxruntime()
        if onnx_dir is not None:
            manifest = read_manifest(onnx_dir)
            found, digest = manifest.get("hash"), graphs_hash(model, int(manifest.get("opset", 0)))
            if found != digest:
                raise ValueError(
                    f"the ONNX graphs in {onnx_dir} were exported from other weights or code "
                    f"(hash {found}, this model {digest}): export them again "
                    "(avatar-forcing export-onnx --model ... --out ...)"
                )
            directory = Path(onnx_dir)
        else:
            directory = cached_export(model, cache_root)
        return cls(directory, providers, threads)

    # --- GeneratorBackend ---------------------------------------------------------------------
    def condition_kv(self, cond: Conditions) -> list[KV]:  # (B, T, .) -> per layer (B, H, T, Dh)
        p = cond.avatar_audio
        feeds = {
            name: _array(x)
            for name, x in zip(
                CONDITION_INPUTS, (cond.avatar_audio, cond.user_audio, cond.user_motion), strict=True
            )
        }
        keys, values = (self._tensor(a, p) for a in self._conditions.run(None, feeds))  # (L, B, H, T, Dh)
        return list(zip(keys.unbind(0), values.unbind(0), strict=True))

    def evaluate(
        self,
        x: torch.Tensor,  # (B, N, D)
        t: torch.Tensor,  # (B, N)
        ref: torch.Tensor,  # (B, D)
        cross_kv: list[KV],  # per layer (B, H, Nc, Dh)
        cross_mask: torch.Tensor,  # (N, Nc) bool
        self_mask: torch.Tensor,  # (N, S + N) bool
        past: list[KV] | None,  # per layer (B, H, S, Dh)
        kv_only: bool = False,
    ) -> StepOutput:
        cross_k, cross_v = self._cross.get(cross_kv)
        if past is None:
            c = self.config
            past_k = past_v = np.zeros((c.depth, x.shape[0], c.heads, 0, c.head_dim), np.float32)
        else:
            past_k, past_v = self._past.get(past)
        values = (
            _array(x),
            _array(t),
            _array(ref),
            cross_k,
            cross_v,
            _array(cross_mask, torch.bool),
            _array(self_mask, torch.bool),
            past_k,
            past_v,
        )
        feeds = dict(zip(STEP_INPUTS, values, strict=True))
        velocity, new_k, new_v = (self._tensor(a, x) for a in self._step.run(None, feeds))
        new_kv = list(zip(new_k.unbind(0), new_v.unbind(0), strict=True))  # per layer (B, H, N, Dh)
        return StepOutput(None if kv_only else velocity, new_kv)

    @staticmethod
    def _tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(a)
        return out if like.device.type == "cpu" and like.dtype == out.dtype else out.to(like)


def compare_backends(
    model: MotionGenerator,
    backend: Any,  # a GeneratorBackend for `model`
    sampler_config: Any = None,  # SamplerConfig; default: realtime, the model's block
    blocks: int = 24,
    seed: int = 0,
) -> tuple[float, float, int]:  # (max |torch - backend|, max |torch output|, frames compared)
    """Stream `blocks` blocks of smooth random conditions through the same sampler on torch and on
    `backend`, with the same noise and seeds; the model's attached backend is restored afterwards."""
    from .backend import _ATTACHED, set_backend
    from .benchmark import SmoothConditions
    from .config import SamplerConfig
    from .sampler import StreamingSampler

    cfg = model.config
    sampler = StreamingSampler(model, sampler_config or SamplerConfig(schedule="realtime"))
    g = torch.Generator().manual_seed(seed)
    p = next(model.parameters())
    ref = torch.randn(1, cfg.dim_motion, generator=g).to(p)
    conds = SmoothConditions(cfg, generator=g)
    sampler.reset(ref)
    inputs = []
    for k in range(blocks):
        n = cfg.window_frames if k == 0 and sampler.config.schedule == "official" else sampler.block
        inputs.append((conds.next(n), torch.randn(1, n, cfg.dim_motion, generator=g)))
    attached = _ATTACHED.get(model)
    outputs = []
    try:
        for net in (None, backend):
            set_backend(model, net)
            sampler.reset(ref)
            rng = torch.Generator().manual_seed(seed + 1)  # noisy history draws, if any
            outputs.append(torch.cat([sampler.step(c, noise.to(p), rng) for c, noise in inputs], dim=1))
    finally:
        set_backend(model, attached)
    want, got = outputs
    return float((got - want).abs().max()), float(want.abs().max()), int(want.shape[1])
