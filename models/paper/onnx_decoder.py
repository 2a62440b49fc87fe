"""The motion autoencoder's decoder as an ONNX graph, run on onnxruntime (the paper pipeline's
`decoder_backend="onnx"`).

One graph, decoder.onnx: Dec(z_S + m) for one portrait and a block of motion latents
(D = style_dim, S = frame size, C_r = the decoder's width at r x r):

  in   identity (P, D)            z_S of the portrait (P = 1, or P = n: one source per frame)
       feat_8 (P, C_8, 8, 8), feat_16 (P, C_16, 16, 16), ..., feat_S (P, C_S, S, S)
                                  the encoder's multi-scale maps (`SourceEncoding.feats`)
       motion (n, D)              the block's motion latents
  out  frames (n, 3, S, S)        roughly [-1, 1], not clamped (as `MotionAutoencoder.decode`)

The identity part is computed once per portrait and fed unchanged with every block; the graph
broadcasts it to the n frames (P and n are dynamic axes), so a whole block is one batched run.

Exported with the TorchScript exporter (`torch.onnx.export(dynamo=False)`, opset 17: GridSample
needs >= 16), like the generator's graphs (`models.generator.onnx_export`). One spot of the torch
code turns sizes into traced values the exporter cannot hold, and is swapped for an equivalent
during export only: `layers.upfirdn2d` (the blur / upsampling filter) builds its depthwise kernel
with a traced channel count ("convolution for kernel of unknown shape") and upsamples by index
assignment; `_traceable_upfirdn2d` computes the same values with the channel count as a constant and
zero insertion by padding and reshaping.

Exports are cached by a hash of the decoder's weights, the autoencoder config, the export format and
opset and the source of the modules that define the computation (`decoder_hash`), under
<generator ONNX cache root>/paper-decoder/<hash>/ (the root is
`models.generator.onnx_export.default_cache_root()`: $AVATAR_FORCING_ONNX_CACHE, else
$XDG_CACHE_HOME/avatar-forcing/onnx, else ~/.cache/avatar-forcing/onnx).

Backends: `TorchDecoder` (the module itself) and `OnnxDecoder`; `decoder_for(autoencoder, name)` gives
the one of an autoencoder, made once and shared by every stream of that autoencoder object. An ONNX
decoder is a snapshot of the weights at export time: for inference only.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.generator.onnx_backend import require_onnxruntime, resolve_providers
from models.generator.onnx_export import (
    OnnxUnavailableError,
    cached_export_dir,
    default_cache_root,
    require_onnx,
)

from . import layers, motion_autoencoder
from .motion_autoencoder import MotionAutoencoder, MotionAutoencoderConfig

log = logging.getLogger(__name__)

FORMAT = "avatar-forcing-paper-decoder-onnx/1"  # bump when the graph's inputs/outputs change
OPSET = 17
DECODER_FILE = "decoder.onnx"
MANIFEST_FILE = "manifest.json"
CACHE_SUBDIR = "paper-decoder"
DECODER_BACKENDS: tuple[str, ...] = ("torch", "onnx")

__all__ = [
    "DECODER_BACKENDS",
    "DecoderBackend",
    "OnnxDecoder",
    "OnnxUnavailableError",
    "TorchDecoder",
    "cached_decoder_export",
    "decoder_for",
    "decoder_hash",
    "export_decoder",
]


def feature_resolutions(config: MotionAutoencoderConfig) -> list[int]:
    """Sizes of the decoder's feature inputs, coarse first: 8, 16, ..., S."""
    return [2**k for k in range(3, config.log_size + 1)]


def input_names(config: MotionAutoencoderConfig) -> list[str]:
    return ["identity", *(f"feat_{r}" for r in feature_resolutions(config)), "motion"]


# --- the exported computation --------------------------------------------------------------------
class DecoderGraph(nn.Module):
    """decoder.onnx: (identity, feats..., motion) -> frames, the source broadcast to the frames."""

    def __init__(self, autoencoder: MotionAutoencoder) -> None:
        super().__init__()
        self.dec = autoencoder.dec

    def forward(self, identity: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        # identity (P, D); rest = feats [(P, C_r, r, r)] coarse first, then motion (n, D)
        *feats, motion = rest
        n = motion.shape[0]
        latent = identity + motion  # (n, D), P in {1, n} broadcast
        feats = [f.expand(n, -1, -1, -1) for f in feats]  # (n, C_r, r, r)
        return self.dec(latent, feats)  # (n, 3, S, S)


def _traceable_upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """`layers.upfirdn2d` with the channel count, spatial sizes and kernel shape as Python ints (the
    exporter needs a convolution kernel of known shape; only the batch stays symbolic) and zero
    insertion by padding + reshape instead of a strided index assignment. Same values."""
    c, h, w = (int(s) for s in x.shape[1:])
    if up > 1:
        z = F.pad(x[:, :, :, None, :, None], [0, up - 1, 0, 0, 0, up - 1])  # (B, C, H, up, W, up)
        x = z.reshape(-1, c, h * up, w * up)  # x at [::up, ::up], zeros elsewhere
    p0, p1 = pad
    if p0 or p1:
        x = F.pad(x, [p0, p1, p0, p1])
    kh, kw = (int(s) for s in kernel.shape)
    weight = torch.flip(kernel, [0, 1]).to(dtype=x.dtype).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


@contextlib.contextmanager
def _export_patches() -> Iterator[None]:
    original = layers.upfirdn2d
    layers.upfirdn2d = _traceable_upfirdn2d  # type: ignore[assignment]
    try:
        yield
    finally:
        layers.upfirdn2d = original  # type: ignore[assignment]


def _example_inputs(config: MotionAutoencoderConfig, frames: int = 3) -> tuple[torch.Tensor, ...]:
    """Tracing inputs: one source, `frames` motions (not 1, so no size-1 batch is specialised)."""
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, config.channels(r), r, r, generator=g) for r in feature_resolutions(config)]
    identity = torch.randn(1, config.style_dim, generator=g)
    motion = torch.randn(frames, config.style_dim, generator=g)
    return (identity, *feats, motion)


# --- hashing and the cache ------------------------------------------------------------------------
def decoder_hash(autoencoder: MotionAutoencoder, opset: int = OPSET) -> str:
    """Hex digest naming the graph exported from this autoencoder's decoder: its weights, the config,
    the export format and opset, and the source of the modules that define the computation."""
    h = hashlib.sha256()
    h.update(f"{FORMAT} opset {opset}\n".encode())
    h.update(json.dumps(dataclasses.asdict(autoencoder.config), sort_keys=True).encode())
    for module in (layers, motion_autoencoder, sys.modules[__name__]):
        source = getattr(module, "__file__", None)
        if source and os.path.exists(source):
            h.update(Path(source).read_bytes())
    for name, tensor in autoencoder.dec.state_dict().items():
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name} {tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a decoder export; FileNotFoundError / ValueError when it is not one."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory} holds no exported decoder ({MANIFEST_FILE} missing)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r} (export it again)")
    if not (directory / DECODER_FILE).exists():
        raise FileNotFoundError(f"{directory / DECODER_FILE} is missing (export it again)")
    return manifest


def export_decoder(
    autoencoder: MotionAutoencoder, out_dir: str | Path, opset: int = OPSET, digest: str | None = None
) -> Path:
    """Write decoder.onnx and manifest.json for `autoencoder` into `out_dir` (created). Returns it."""
    require_onnx()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = digest or decoder_hash(autoencoder, opset)
    config = autoencoder.config
    p = next(autoencoder.dec.parameters())
    # Trace a float32 CPU copy when the model lives elsewhere; the graph runs on any provider.
    source = (
        autoencoder
        if (p.device.type == "cpu" and p.dtype == torch.float32)
        else copy.deepcopy(autoencoder).to("cpu", torch.float32)
    )
    was_training = source.training
    source.eval()
    names = input_names(config)
    axes: dict[str, dict[int, str]] = {name: {0: "sources"} for name in names[:-1]}
    axes["motion"] = {0: "frames"}
    axes["frames"] = {0: "frames"}
    start = time.perf_counter()
    try:
        with torch.inference_mode(False), torch.no_grad(), _export_patches(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
            warnings.simplefilter("ignore", UserWarning)
            (out_dir / MANIFEST_FILE).unlink(missing_ok=True)  # written last: marks a complete export
            torch.onnx.export(
                DecoderGraph(source),
                _example_inputs(config),
                str(out_dir / DECODER_FILE),
                dynamo=False,
                opset_version=opset,
                input_names=names,
                output_names=["frames"],
                dynamic_axes=axes,
            )
    finally:
        source.train(was_training)
    manifest = {
        "format": FORMAT,
        "hash": digest,
        "opset": opset,
        "torch": torch.__version__,
        "exported": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "autoencoder": dataclasses.asdict(config),
        "inputs": names,
        "outputs": ["frames"],
        "shapes": (
            f"identity (P, {config.style_dim}), feat_r (P, C_r, r, r) for r = 8..{config.size}, "
            f"motion (n, {config.style_dim}) -> frames (n, 3, {config.size}, {config.size}); "
            "P = 1 or n, n dynamic"
        ),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("exported the paper decoder to ONNX in %.1f s: %s", time.perf_counter() - start, out_dir)
    return out_dir


def cached_decoder_export(
    autoencoder: MotionAutoencoder, cache_root: str | Path | None = None, opset: int = OPSET
) -> Path:
    """The export directory of this decoder in the cache (<root>/paper-decoder/<hash>/), exported on
    first use (written to a temporary directory, then renamed: concurrent exporters are safe)."""
    digest = decoder_hash(autoencoder, opset)
    root = (Path(cache_root) if cache_root is not None else default_cache_root()) / CACHE_SUBDIR

    def export(tmp: Path) -> None:
        export_decoder(autoencoder, tmp, opset, digest)

    return cached_export_dir(root, digest, export, "the paper decoder", read=read_manifest)


# --- backends -------------------------------------------------------------------------------------
class DecoderBackend(Protocol):
    """Dec(z_S + m) of one autoencoder, as the pipeline calls it."""

    name: str

    def decode(
        self,
        identity: torch.Tensor,  # (P, D), P = 1 or n
        feats: list[torch.Tensor],  # [(P, C_r, r, r)], r = 8 ... S
        motion: torch.Tensor,  # (n, D)
    ) -> torch.Tensor:  # (n, 3, S, S)
        ...


class TorchDecoder:
    """The torch module itself (the default)."""

    name = "torch"

    def __init__(self, autoencoder: MotionAutoencoder) -> None:
        self.autoencoder = autoencoder

    def decode(self, identity: torch.Tensor, feats: list[torch.Tensor], motion: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(identity, feats, motion)


def _array(x: torch.Tensor) -> np.ndarray:
    """A C-contiguous float32 host array of `x` (no copy for contiguous float32 CPU tensors)."""
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


class OnnxDecoder:
    """decoder.onnx on onnxruntime. Holds no reference to the torch module.

    The source's host arrays are remembered for the feature list seen last (the pipeline passes the
    same `SourceEncoding.feats` list with every block), so a portrait on another device is copied
    to the host once, not once per block."""

    name = "onnx"

    def __init__(
        self, directory: str | Path, providers: str | list[str] = "auto", threads: int | None = None
    ) -> None:
        ort = require_onnxruntime()
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.config = MotionAutoencoderConfig(**self.manifest["autoencoder"])
        self.hash: str = self.manifest["hash"]
        self.input_names: list[str] = list(self.manifest["inputs"])
        options = ort.SessionOptions()
        self.threads = int(threads or torch.get_num_threads())
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        chosen = resolve_providers(providers) if isinstance(providers, str) else list(providers)
        self._session = ort.InferenceSession(str(self.directory / DECODER_FILE), options, providers=chosen)
        self.providers: list[str] = list(self._session.get_providers())
        self._source_memo: tuple[list[torch.Tensor], list[int], list[np.ndarray]] | None = None

    @classmethod
    def for_autoencoder(
        cls,
        autoencoder: MotionAutoencoder,
        cache_root: str | Path | None = None,
        providers: str | list[str] = "auto",
        threads: int | None = None,
    ) -> OnnxDecoder:
        """The cached export of this decoder (exported now on first use), on onnxruntime."""
        require_onnxruntime()
        return cls(cached_decoder_export(autoencoder, cache_root), providers, threads)

    def _source(self, identity: torch.Tensor, feats: list[torch.Tensor]) -> list[np.ndarray]:
        ids = [id(identity), *map(id, feats)]
        memo = self._source_memo
        if memo is not None and memo[1] == ids:
            return memo[2]
        arrays = [_array(identity), *map(_array, feats)]
        self._source_memo = ([identity, *feats], ids, arrays)  # holding them keeps their ids unique
        return arrays

    def decode(self, identity: torch.Tensor, feats: list[torch.Tensor], motion: torch.Tensor) -> torch.Tensor:
        # identity (P, D), feats [(P, C_r, r, r)], motion (n, D) -> (n, 3, S, S)
        if len(feats) != len(self.input_names) - 2:
            raise ValueError(f"expected {len(self.input_names) - 2} feature maps, got {len(feats)}")
        if len(motion) == 0:
            s = self.config.size
            return motion.new_zeros(0, 3, s, s)
        values = [*self._source(identity, feats), _array(motion)]
        (frames,) = self._session.run(None, dict(zip(self.input_names, values, strict=True)))
        out = torch.from_numpy(frames)
        return out if motion.device.type == "cpu" and motion.dtype == out.dtype else out.to(motion)


# Decoders made for autoencoder objects: weak keys (a dropped autoencoder takes its session along);
# keyed by (backend name, cache root, providers, threads) so that different settings do not clash.
_DECODERS: weakref.WeakKeyDictionary[MotionAutoencoder, dict[tuple[Any, ...], DecoderBackend]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def decoder_for(
    autoencoder: MotionAutoencoder,
    name: str = "torch",
    cache_root: str | Path | None = None,
    providers: str = "auto",
    threads: int | None = None,
) -> DecoderBackend:
    """The decoder backend `name` ("torch" or "onnx") of `autoencoder`; an ONNX one is exported (on
    first use of these weights) and its session made once, then shared by every caller.

    `providers`: "auto" (CUDA when onnxruntime has it, else CPU), "cpu" or "cuda"; `threads`:
    onnxruntime's intra-op threads (default: torch's current thread count)."""
    if name not in DECODER_BACKENDS:
        raise ValueError(f"unknown decoder backend {name!r}; valid: {list(DECODER_BACKENDS)}")
    if name == "torch":
        return TorchDecoder(autoencoder)
    key = (name, str(cache_root), providers, threads)
    with _LOCK:
        made = _DECODERS.setdefault(autoencoder, {})
        backend = made.get(key)
        if backend is None:
            backend = made[key] = OnnxDecoder.for_autoencoder(autoencoder, cache_root, providers, threads)
            log.info("paper decoder runs on onnxruntime (%s)", ", ".join(backend.providers))
    return backend
