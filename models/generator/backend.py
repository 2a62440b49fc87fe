"""How the generator network is evaluated: the torch module itself, or exported ONNX graphs.

`StreamingSampler._denoise` (the one denoising loop) asks its model's backend for the two network
evaluations of a block and nothing else:

- `condition_kv(cond)`: raw condition features -> Dual Motion Encoder tokens -> per-layer
  cross-attention keys/values (once per block);
- `evaluate(x, t, ref, cross_kv, cross_mask, self_mask, past, kv_only)`: the transformer over
  [context + new frames] with the self-attention key/value cache (once per denoising step, and
  once more for the cache refresh).

Schedule, guidance combination, flow update, masks and cache bookkeeping stay in the sampler, shared
by every backend. A backend is attached to a `MotionGenerator` object (`set_backend`, or
`use_backend("onnx")`), so every sampler of that model uses it: the server's sessions, batched
steps (`batched.batch_key` keys on the model object), `animate`, the benchmark. A model without one
runs on torch.

An attached ONNX backend is a snapshot of the weights when it was exported: attach it to models
used for inference only (not to one being trained).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Protocol

import torch

from .conditions import Conditions
from .transformer import KV, MotionGenerator, StepOutput

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("torch", "onnx")


class GeneratorBackend(Protocol):
    """The network evaluations of one `MotionGenerator`, as the sampler calls them."""

    name: str

    def condition_kv(self, cond: Conditions) -> list[KV]:  # (B, T, .) -> per layer (B, H, T, Dh)
        ...

    def evaluate(
        self,
        x: torch.Tensor,  # (B, N, dim_motion)
        t: torch.Tensor,  # (B, N) per-frame timesteps, 0..1000
        ref: torch.Tensor,  # (B, dim_motion)
        cross_kv: list[KV],  # per layer, (B, H, Nc, Dh)
        cross_mask: torch.Tensor,  # (N, Nc) bool
        self_mask: torch.Tensor,  # (N, S + N) bool
        past: list[KV] | None,  # per layer, unrotated (B, H, S, Dh)
        kv_only: bool = False,
    ) -> StepOutput:  # velocity (B, N, dim_motion) (None allowed when kv_only), new K/V per layer
        ...


class TorchBackend:
    """The torch module itself (the default)."""

    name = "torch"

    def __init__(self, model: MotionGenerator) -> None:
        self.model = model

    def condition_kv(self, cond: Conditions) -> list[KV]:
        return self.model.cross_kv(self.model.encode_conditions(cond))

    def evaluate(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        ref: torch.Tensor,
        cross_kv: list[KV],
        cross_mask: torch.Tensor,
        self_mask: torch.Tensor,
        past: list[KV] | None,
        kv_only: bool = False,
    ) -> StepOutput:
        return self.model(x, t, ref, cross_kv, cross_mask, self_mask, past, kv_only=kv_only)


# Backends attached to model objects; weak keys, so a dropped model takes its backend with it
# (backends must not hold their model: a value referring to its key would keep it alive).
_ATTACHED: weakref.WeakKeyDictionary[MotionGenerator, GeneratorBackend] = weakref.WeakKeyDictionary()


def get_backend(model: MotionGenerator) -> GeneratorBackend:
    """The backend attached to `model`, else torch."""
    backend = _ATTACHED.get(model)
    return backend if backend is not None else TorchBackend(model)


def set_backend(model: MotionGenerator, backend: GeneratorBackend | None) -> None:
    """Attach `backend` to `model` (None: back to torch). Takes effect at the next block of every
    sampler of this model."""
    if backend is None or (type(backend) is TorchBackend and backend.model is model):
        _ATTACHED.pop(model, None)
        return
    config = getattr(backend, "config", None)
    if config is not None and config != model.config:
        raise ValueError("this backend was made for a generator of another architecture")
    _ATTACHED[model] = backend


def use_backend(
    model: MotionGenerator,
    name: str,
    onnx_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    providers: str = "auto",
    threads: int | None = None,
) -> GeneratorBackend:
    """Attach the backend called `name` ("torch" or "onnx") to `model` and return it.

    "onnx": the graphs in `onnx_dir` when given (as written by `avatar-forcing export-onnx --out`;
    they must have been exported from these weights), else from the cache under `cache_root`
    (default ~/.cache/avatar-forcing/onnx/<hash of the weights>/), exported there on first use.
    `providers`: "auto" (CUDA when onnxruntime has it, else CPU), "cpu" or "cuda". `threads`:
    onnxruntime's intra-op threads (default: torch's current thread count).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {list(BACKENDS)}")
    if name == "torch":
        set_backend(model, None)
        return TorchBackend(model)
    from .onnx_backend import OnnxBackend

    backend = OnnxBackend.for_model(
        model, onnx_dir=onnx_dir, cache_root=cache_root, providers=providers, threads=threads
    )
    set_backend(model, backend)
    log.info("generator runs on onnxruntime (%s)", ", ".join(backend.providers))
    return backend
