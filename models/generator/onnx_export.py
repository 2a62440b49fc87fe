"""Export the generator's network evaluations as ONNX graphs (the `onnx` backend's models).

Two graphs, both with a dynamic batch (guidance branches x streams) and dynamic frame counts, the
streaming state passed in and out explicitly (L = depth, H = heads, Dh = head width):

conditions.onnx (once per block: Dual Motion Encoder + every layer's cross-attention projection)
  in   avatar_audio (B, T, dim_cond), user_audio (B, T, dim_cond), user_motion (B, T, dim_motion)
  out  cross_k, cross_v (L, B, H, T, Dh)

step.onnx (once per denoising step: `MotionGenerator.forward` over [context + new frames])
  in   x (B, N, dim_motion), t (B, N), ref (B, dim_motion),
       cross_k, cross_v (L, B, H, Nc, Dh)  cached + new condition frames,
       cross_mask (N, Nc) bool, self_mask (N, S + N) bool  (the sampler's masks),
       past_k, past_v (L, B, H, S, Dh)  the self-attention cache, unrotated; S may be 0
  out  velocity (B, N, dim_motion), new_k, new_v (L, B, H, N, Dh)  unrotated K/V of the input frames

The key/value-only cache refresh of the realtime schedule runs step.onnx too (its velocity is
dropped): one graph holds the weights once, and the refresh costs one layer's attention and MLP
more than the torch path's, about 1/depth of one of the block's evaluations.

Exported with the TorchScript exporter (`torch.onnx.export(dynamo=False)`, opset 17), which needs the
`onnx` package. Tracing keeps shapes symbolic except where code turns a size into a Python value;
two spots of the torch code do, and are swapped for equivalents during export only: the blocks'
LayerNorm (`transformer._norm` passes `x.shape[-1:]`, which the exporter needs constant) and
`nn.MultiheadAttention` in the Dual Motion Encoder (whose shape arithmetic is traced as constants).

Exports are cached by a hash of the weights, the architecture and the source of the modules that
define the computation (`graphs_hash`), under ~/.cache/avatar-forcing/onnx/<hash>/ (or
$AVATAR_FORCING_ONNX_CACHE, $XDG_CACHE_HOME/avatar-forcing/onnx).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import dual_motion_encoder, layers, transformer
from .config import GeneratorConfig
from .transformer import MotionGenerator

log = logging.getLogger(__name__)

FORMAT = "avatar-forcing-onnx/1"  # bump when the graphs' inputs/outputs change
OPSET = 17
CONDITIONS_FILE = "conditions.onnx"
STEP_FILE = "step.onnx"
MANIFEST_FILE = "manifest.json"
CONDITION_INPUTS = ("avatar_audio", "user_audio", "user_motion")
CONDITION_OUTPUTS = ("cross_k", "cross_v")
STEP_INPUTS = ("x", "t", "ref", "cross_k", "cross_v", "cross_mask", "self_mask", "past_k", "past_v")
STEP_OUTPUTS = ("velocity", "new_k", "new_v")
CACHE_ENV = "AVATAR_FORCING_ONNX_CACHE"


class OnnxUnavailableError(RuntimeError):
    """A package the ONNX path needs is missing; the message names the pip command."""


def require_onnx() -> Any:
    """The `onnx` package (the exporter serialises through it), or a clear error."""
    try:
        import onnx
    except ImportError:
        raise OnnxUnavailableError(
            "exporting the generator to ONNX needs the onnx package: pip install onnx"
        ) from None
    return onnx


# --- the exported computations -----------------------------------------------------------------
class ConditionGraph(nn.Module):
    """conditions.onnx: condition features -> every layer's cross-attention keys/values, stacked."""

    def __init__(self, model: MotionGenerator) -> None:
        super().__init__()
        self.model = model
        self.encoder = _traceable_encoder(model.cond_encoder)

    def forward(
        self,
        avatar_audio: torch.Tensor,  # (B, T, dim_cond)
        user_audio: torch.Tensor,  # (B, T, dim_cond)
        user_motion: torch.Tensor,  # (B, T, dim_motion)
    ) -> tuple[torch.Tensor, torch.Tensor]:  # cross_k, cross_v: (L, B, H, T, Dh)
        # = model.cross_kv(model.encode_conditions(Conditions(...))): Conditions checks its shapes
        # with Python comparisons, which a trace cannot hold, so the encoder is called directly.
        kv = self.model.cross_kv(self.encoder(avatar_audio, user_audio, user_motion))
        return torch.stack([k for k, _ in kv]), torch.stack([v for _, v in kv])


class StepGraph(nn.Module):
    """step.onnx: one `MotionGenerator.forward` with the caches as stacked inputs and outputs."""

    def __init__(self, model: MotionGenerator) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x: torch.Tensor,  # (B, N, D)
        t: torch.Tensor,  # (B, N)
        ref: torch.Tensor,  # (B, D)
        cross_k: torch.Tensor,  # (L, B, H, Nc, Dh)
        cross_v: torch.Tensor,  # (L, B, H, Nc, Dh)
        cross_mask: torch.Tensor,  # (N, Nc) bool
        self_mask: torch.Tensor,  # (N, S + N) bool
        past_k: torch.Tensor,  # (L, B, H, S, Dh)
        past_v: torch.Tensor,  # (L, B, H, S, Dh)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # (B, N, D), 2 x (L, B, H, N, Dh)
        depth = self.model.config.depth
        cross = [(cross_k[i], cross_v[i]) for i in range(depth)]
        past = [(past_k[i], past_v[i]) for i in range(depth)]
        out = self.model(x, t, ref, cross, cross_mask, self_mask, past)
        assert out.velocity is not None
        new_k = torch.stack([k for k, _ in out.new_kv])
        new_v = torch.stack([v for _, v in out.new_kv])
        return out.velocity, new_k, new_v


class _TracedMultiheadAttention(nn.Module):
    """`nn.MultiheadAttention(batch_first=True)` without masks, as the Dual Motion Encoder calls it,
    written so the trace keeps batch and frame counts symbolic. Shares the module's weights."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        unsupported = {
            "batch_first=False": not mha.batch_first,
            "separate q/k/v projection weights": not mha._qkv_same_embed_dim,
            "no input projection bias": mha.in_proj_bias is None,
            "add_bias_kv": mha.bias_k is not None,
            "add_zero_attn": mha.add_zero_attn,
        }
        bad = [name for name, present in unsupported.items() if present]
        if bad:
            raise NotImplementedError(f"ONNX export of this MultiheadAttention: unsupported {bad}")
        self.mha = mha

    def forward(
        self,
        query: torch.Tensor,  # (B, Tq, E)
        key: torch.Tensor,  # (B, Tk, E)
        value: torch.Tensor,  # (B, Tk, E)
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, None]:  # (B, Tq, E)
        m = self.mha
        w, b, e = m.in_proj_weight, m.in_proj_bias, m.embed_dim
        assert b is not None
        q = F.linear(query, w[:e], b[:e])
        k = F.linear(key, w[e : 2 * e], b[e : 2 * e])
        v = F.linear(value, w[2 * e :], b[2 * e :])
        q, k, v = (z.unflatten(-1, (m.num_heads, -1)).transpose(1, 2) for z in (q, k, v))  # (B, h, T, e/h)
        y = F.scaled_dot_product_attention(q, k, v)  # eval: no dropout
        return m.out_proj(y.transpose(1, 2).flatten(2)), None


def _traceable_encoder(encoder: nn.Module) -> nn.Module:
    """A shallow copy of the Dual Motion Encoder (same parameters, same forward) whose
    `nn.MultiheadAttention` children are `_TracedMultiheadAttention`. With `cond_rope` the
    encoder calls `rotary_attention`, written for the trace already: it is returned as it is."""
    if getattr(encoder, "rope_theta", None) is not None:
        return encoder
    out = copy.copy(encoder)
    out._modules = dict(encoder._modules)  # the copy's own child table; the original is untouched
    for name, child in encoder.named_children():
        if isinstance(child, nn.MultiheadAttention):
            out._modules[name] = _TracedMultiheadAttention(child)
    return out


def _static_norm(x: torch.Tensor) -> torch.Tensor:
    """`transformer._norm` (LayerNorm without affine parameters, eps 1e-6) with the normalised width
    as a Python int, which the exporter needs constant (numerically the same function)."""
    return F.layer_norm(x, (int(x.shape[-1]),), eps=1e-6)


@contextlib.contextmanager
def _export_patches() -> Iterator[None]:
    original = transformer._norm
    transformer._norm = _static_norm  # type: ignore[assignment]
    try:
        yield
    finally:
        transformer._norm = original  # type: ignore[assignment]


# --- hashing and the cache ------------------------------------------------------------------------
def graphs_hash(model: MotionGenerator, opset: int = OPSET) -> str:
    """Hex digest naming the graphs exported from this model: weights, architecture, the export
    format and opset, and the source of the modules that define the computation (a code change
    there makes a new export, never a stale one)."""
    h = hashlib.sha256()
    h.update(f"{FORMAT} opset {opset}\n".encode())
    h.update(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for module in (transformer, layers, dual_motion_encoder, sys.modules[__name__]):
        source = getattr(module, "__file__", None)
        if source and os.path.exists(source):
            h.update(Path(source).read_bytes())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name} {tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


def default_cache_root() -> Path:
    """$AVATAR_FORCING_ONNX_CACHE, else $XDG_CACHE_HOME/avatar-forcing/onnx, else ~/.cache/..."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "avatar-forcing" / "onnx"


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of an export directory; raises FileNotFoundError / ValueError when it is not one."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory} holds no exported generator ({MANIFEST_FILE} missing)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r} (export it again)")
    for name in (CONDITIONS_FILE, STEP_FILE):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory / name} is missing (export it again)")
    return manifest


def manifest_config(manifest: dict[str, Any]) -> GeneratorConfig:
    return GeneratorConfig.from_dict(manifest["generator"])


# --- export -------------------------------------------------------------------------------------
def _example_inputs(
    cfg: GeneratorConfig,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Tracing inputs with distinct sizes (none 1): B = 3 rows, N = 6 frames, S = 5 cached frames,
    K = 2 cached condition frames."""
    from .masks import alignment_mask, streaming_self_mask

    g = torch.Generator().manual_seed(0)
    b, n, s, k = 3, 6, 5, 2
    lyr, h, dh = cfg.depth, cfg.heads, cfg.head_dim
    cond = (
        torch.randn(b, n, cfg.dim_cond, generator=g),
        torch.randn(b, n, cfg.dim_cond, generator=g),
        torch.randn(b, n, cfg.dim_motion, generator=g),
    )
    step = (
        torch.randn(b, n, cfg.dim_motion, generator=g),
        torch.rand(b, n, generator=g) * cfg.num_train_timesteps,
        torch.randn(b, cfg.dim_motion, generator=g),
        torch.randn(lyr, b, h, k + n, dh, generator=g),
        torch.randn(lyr, b, h, k + n, dh, generator=g),
        alignment_mask(n, k + n, cfg.cond_window, key_offset=k),
        streaming_self_mask(s, n, cfg.lookahead_frames),
        torch.randn(lyr, b, h, s, dh, generator=g),
        torch.randn(lyr, b, h, s, dh, generator=g),
    )
    return cond, step


CONDITION_AXES: dict[str, dict[int, str]] = {
    **{name: {0: "batch", 1: "frames"} for name in CONDITION_INPUTS},
    **{name: {1: "batch", 3: "frames"} for name in CONDITION_OUTPUTS},
}
STEP_AXES: dict[str, dict[int, str]] = {
    "x": {0: "batch", 1: "frames"},
    "t": {0: "batch", 1: "frames"},
    "ref": {0: "batch"},
    "cross_k": {1: "batch", 3: "cond_frames"},
    "cross_v": {1: "batch", 3: "cond_frames"},
    "cross_mask": {0: "frames", 1: "cond_frames"},
    "self_mask": {0: "frames", 1: "keys"},
    "past_k": {1: "batch", 3: "cached_frames"},
    "past_v": {1: "batch", 3: "cached_frames"},
    "velocity": {0: "batch", 1: "frames"},
    "new_k": {1: "batch", 3: "frames"},
    "new_v": {1: "batch", 3: "frames"},
}


def export_generator(
    model: MotionGenerator, out_dir: str | Path, opset: int = OPSET, digest: str | None = None
) -> Path:
    """Write conditions.onnx, step.onnx and manifest.json for `model` into `out_dir` (created;
    existing files of an earlier export are replaced). Returns `out_dir`."""
    require_onnx()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = digest or graphs_hash(model, opset)
    p = next(model.parameters())
    # Trace a float32 CPU copy when the model lives elsewhere; the graphs run on any provider.
    source = model if (p.device.type == "cpu" and p.dtype == torch.float32) else copy.deepcopy(model)
    source = source.to("cpu", torch.float32)
    was_training = source.training
    source.eval()
    cond_in, step_in = _example_inputs(model.config)
    start = time.perf_counter()
    try:
        with (
            torch.inference_mode(False),
            torch.no_grad(),
            _export_patches(),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
            warnings.simplefilter("ignore", UserWarning)
            # Write the manifest last: a directory with a manifest holds a complete export.
            (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
            torch.onnx.export(
                ConditionGraph(source),
                cond_in,
                str(out_dir / CONDITIONS_FILE),
                dynamo=False,
                opset_version=opset,
                input_names=list(CONDITION_INPUTS),
                output_names=list(CONDITION_OUTPUTS),
                dynamic_axes=CONDITION_AXES,
            )
            torch.onnx.export(
                StepGraph(source),
                step_in,
                str(out_dir / STEP_FILE),
                dynamo=False,
                opset_version=opset,
                input_names=list(STEP_INPUTS),
                output_names=list(STEP_OUTPUTS),
                dynamic_axes=STEP_AXES,
            )
    finally:
        source.train(was_training)
    c = model.config
    manifest = {
        "format": FORMAT,
        "hash": digest,
        "opset": opset,
        "torch": torch.__version__,
        "exported": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "generator": c.to_dict(),
        "graphs": {
            CONDITIONS_FILE: {"inputs": list(CONDITION_INPUTS), "outputs": list(CONDITION_OUTPUTS)},
            STEP_FILE: {"inputs": list(STEP_INPUTS), "outputs": list(STEP_OUTPUTS)},
        },
        "shapes": (
            f"L={c.depth} layers, H={c.heads} heads, Dh={c.head_dim}; batch = guidance branches x "
            "streams; frames, cond_frames and cached_frames (may be 0) are dynamic"
        ),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("exported the generator to ONNX in %.1f s: %s", time.perf_counter() - start, out_dir)
    return out_dir


def cached_export_dir(
    root: Path,
    digest: str,
    export: Callable[[Path], None],
    what: str,
    read: Callable[[Path], dict[str, Any]] | None = None,
) -> Path:
    """<root>/<digest>/, made by `export(tmp_dir)` on first use: written to a temporary directory,
    then renamed, so concurrent exporters (processes or threads) are safe. `read` reads an export's
    manifest (default: the generator's, `read_manifest`); `what` is for the log."""
    read = read or read_manifest
    target = root / digest
    try:
        if read(target).get("hash") == digest:
            os.utime(target)  # marks it used: pruning keeps the recently used exports
            return target
    except (FileNotFoundError, ValueError):
        pass
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{digest}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("exporting %s to ONNX (first use of these weights): %s", what, target)
    export(tmp)
    if target.exists():  # an incomplete export, or another process finished first
        try:
            if read(target).get("hash") == digest:
                shutil.rmtree(tmp, ignore_errors=True)
                return target
        except (FileNotFoundError, ValueError):
            pass
        shutil.rmtree(target, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:  # lost a race to another process: its export is as good
        shutil.rmtree(tmp, ignore_errors=True)
        read(target)
    prune_cache(root, keep=CACHE_KEEP, spare=target)
    return target


CACHE_KEEP = 8  # exports kept per cache folder (the most recently used; each is 20 MB to 0.6 GB)


def prune_cache(root: Path, keep: int = CACHE_KEEP, spare: Path | None = None) -> list[Path]:
    """Delete all but the `keep` most recently used exports under `root` (never `spare`, never
    one being written); returns what was deleted. A new export calls it, so the cache stays
    bounded however many different weights pass through (e.g. `serve --model random`)."""
    entries = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d != spare]
    entries.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    removed = []
    for old in entries[max(0, keep - (1 if spare is not None else 0)) :]:
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    if removed:
        log.info("ONNX cache %s: removed %d old export(s)", root, len(removed))
    return removed


def cached_export(model: MotionGenerator, cache_root: str | Path | None = None, opset: int = OPSET) -> Path:
    """The export directory of `model` in the cache (<root>/<graphs_hash>/), exported on first use."""
    digest = graphs_hash(model, opset)
    root = Path(cache_root) if cache_root is not None else default_cache_root()

    def export(tmp: Path) -> None:
        export_generator(model, tmp, opset, digest)

    return cached_export_dir(root, digest, export, "the generator")
