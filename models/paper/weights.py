"""Strict loading of the official motion-autoencoder weights, and random stand-ins for tests.

The official release keys the motion autoencoder as `motion_autoencoder.<name>` in a combined
checkpoint (see shared/reference/official_checkpoint_manifest.json) and as bare `<name>` in a
separate `motion_autoencoder.pth`; both are accepted, optionally wrapped in a dict under
"state_dict", "model" or "gen". Loading is strict: every expected tensor must be present with its
exact shape and nothing else may claim to belong to the motion autoencoder, otherwise
`MotionAutoencoderCheckpointError` lists the missing names (the first 20 and the count), the
unexpected names and the shape mismatches. Other components of a combined checkpoint
(`flow_transformer.*`, `audio_encoder.*`) are ignored here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from .layers import Blur, Upsample
from .motion_autoencoder import PAPER_CONFIG, MotionAutoencoder, MotionAutoencoderConfig

log = logging.getLogger(__name__)

PREFIX = "motion_autoencoder."
OTHER_COMPONENTS = ("flow_transformer.", "audio_encoder.")
CHECKPOINT_NAMES = ("motion_autoencoder.pth", "motion_autoencoder.pt", "motion_autoencoder.ckpt")
COMBINED_SUFFIXES = (".pth", ".pt", ".ckpt")
WRAPPER_KEYS = ("state_dict", "model", "gen")
MAX_LISTED = 20


class CheckpointLayoutError(ValueError):
    """A checkpoint does not match an official layout; the message names every missing,
    unexpected and mis-shaped tensor (`missing` / `unexpected` / `mismatched` hold them). `PART`
    names the component in the message."""

    PART = "checkpoint"

    def __init__(
        self,
        source: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        lines = [
            f"{self.PART} weights in {source} do not match the official layout: "
            f"{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mis-shaped"
        ]
        lines += _listing("missing", missing)
        lines += _listing("unexpected", unexpected)
        lines += _listing(
            "mis-shaped", [f"{n} is {list(got)}, expected {list(want)}" for n, got, want in mismatched]
        )
        super().__init__("\n  ".join(lines))


class MotionAutoencoderCheckpointError(CheckpointLayoutError):
    """A checkpoint does not match the official motion-autoencoder layout (names with the prefix)."""

    PART = "motion-autoencoder"


def checkpoints_with_prefix(folder: Path, prefix: str, suffixes: Iterable[str]) -> list[Path]:
    """The torch checkpoints in `folder` (by suffix) holding at least one key that starts with
    `prefix` (a combined official checkpoint, or a part's own file); files that are not state
    dicts are skipped."""
    found = []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in suffixes:
            try:
                state = _unwrap(_torch_load(f), str(f))
            except (ValueError, RuntimeError, OSError):  # not a state dict, or not a torch file
                continue
            if any(isinstance(k, str) and k.startswith(prefix) for k in state):
                found.append(f)
    return found


def _listing(kind: str, names: list[str]) -> list[str]:
    shown = [f"{kind}: {n}" for n in names[:MAX_LISTED]]
    if len(names) > MAX_LISTED:
        shown.append(f"... and {len(names) - MAX_LISTED} more {kind} ({len(names)} in all)")
    return shown


def _meta_model(config: MotionAutoencoderConfig) -> MotionAutoencoder:
    with torch.device("meta"):
        return MotionAutoencoder(config)


def expected_shapes(config: MotionAutoencoderConfig = PAPER_CONFIG, prefix: str = PREFIX) -> dict[str, tuple]:
    """Every parameter and buffer name (with `prefix`) and its shape, in state_dict order."""
    return {prefix + k: tuple(v.shape) for k, v in _meta_model(config).state_dict().items()}


def random_state_dict(
    seed: int = 0, config: MotionAutoencoderConfig = PAPER_CONFIG, prefix: str = PREFIX
) -> dict[str, torch.Tensor]:
    """Random weights in the official names and shapes (the released weights cannot be fetched here).

    Drawn like the models' own initialisation, so that activations stay in range: weights N(0, 1)
    (the layers scale them at run time), style-modulation biases 1 + N(0, 0.1^2), other biases and the
    noise strengths N(0, 0.1^2); the resampling filters are the fixed binomial kernels.
    """
    g = torch.Generator().manual_seed(seed)
    model = _meta_model(config)
    kernels: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, (Blur, Upsample)):
            kernels[f"{name}.kernel"] = module.default_kernel()
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if name in kernels:
            value = kernels[name].clone()
        elif name.endswith("modulation.bias"):
            value = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith(".bias") or name.endswith("noise.weight"):
            value = 0.1 * torch.randn(shape, generator=g)
        else:
            value = torch.randn(shape, generator=g)
        out[prefix + name] = value
    return out


def save_random_checkpoint(
    path: str | Path,
    seed: int = 0,
    config: MotionAutoencoderConfig = PAPER_CONFIG,
    prefixed: bool = False,
) -> Path:
    """Write random official-layout weights: into `path`/motion_autoencoder.pth when `path` is a
    folder (or has no suffix), else to `path`. Bare names unless `prefixed`."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        path = path / CHECKPOINT_NAMES[0]
    torch.save(random_state_dict(seed, config, PREFIX if prefixed else ""), path)
    return path


def _unwrap(state: object, source: str = "the checkpoint") -> Mapping[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
            inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
            if inner is None:
                break
            state = inner
    if not isinstance(state, Mapping):
        raise ValueError(f"{source} does not hold a state dict (found {type(state).__name__})")
    return state


def extract_motion_autoencoder_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The motion-autoencoder entries of a (combined or separate) state dict, keyed WITH the prefix.

    If any key carries the prefix the dict is taken as combined: the other known components are
    dropped and any remaining key is kept (it will be reported as unexpected). Otherwise every key is
    taken as a bare motion-autoencoder name.
    """
    if any(k.startswith(PREFIX) for k in state):
        return {k: v for k, v in state.items() if not k.startswith(OTHER_COMPONENTS)}
    return {PREFIX + k: v for k, v in state.items()}


def compare_layout(
    given: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    """(missing, unexpected, mismatched (name, shape given, shape expected)) of a state dict
    against the names and shapes a layout expects."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        (k, tuple(v.shape), expected[k])
        for k, v in given.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    return missing, unexpected, mismatched


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    config: MotionAutoencoderConfig = PAPER_CONFIG,
    source: str = "the state dict",
) -> dict[str, torch.Tensor]:
    """Validate a state dict against the layout; return it keyed by bare names (for load_state_dict).

    Raises MotionAutoencoderCheckpointError naming every missing, unexpected and mis-shaped tensor."""
    given = extract_motion_autoencoder_state(state)
    missing, unexpected, mismatched = compare_layout(given, expected_shapes(config))
    if missing or unexpected or mismatched:
        raise MotionAutoencoderCheckpointError(source, missing, unexpected, mismatched)
    return {k[len(PREFIX) :]: v for k, v in given.items()}


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint file for `path`: the file itself, or in a folder `motion_autoencoder.pth`
    (.pt, .ckpt), else the only other .pth/.pt/.ckpt file that holds `motion_autoencoder.*` keys."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"no motion-autoencoder checkpoint at {path} (give a file, or a folder holding "
            f"{CHECKPOINT_NAMES[0]} or a combined checkpoint)"
        )
    for name in CHECKPOINT_NAMES:
        if (path / name).is_file():
            return path / name
    candidates = checkpoints_with_prefix(path, PREFIX, COMBINED_SUFFIXES)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(
            f"no motion-autoencoder weights in {path}: expected {CHECKPOINT_NAMES[0]} or a combined "
            f"checkpoint with '{PREFIX}*' keys"
        )
    raise FileNotFoundError(
        f"several checkpoints in {path} hold '{PREFIX}*' keys ({', '.join(c.name for c in candidates)}); "
        "pass the file"
    )


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _warn_on_unusual_filters(model: MotionAutoencoder) -> None:
    """The resampling filters are constants of the architecture; checkpoints carry them anyway."""
    odd = [
        name
        for name, module in model.named_modules()
        if isinstance(module, (Blur, Upsample))
        and not torch.allclose(module.kernel.detach().float().cpu(), module.default_kernel(), atol=1e-6)
    ]
    if odd:
        log.warning(
            "%d resampling filter(s) in the checkpoint differ from the [1, 3, 3, 1] binomial (first: %s); "
            "using the checkpoint's",
            len(odd),
            odd[0],
        )


def load_motion_autoencoder(
    path: str | Path | Mapping[str, torch.Tensor],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: MotionAutoencoderConfig = PAPER_CONFIG,
) -> MotionAutoencoder:
    """Build the motion autoencoder from official weights (a file, a folder or a state dict), strictly.

    The model is built without initialising its weights; the tensors are copied in (cast to
    `dtype`) and the model is returned in eval mode with gradients off."""
    if isinstance(path, Mapping):
        source, state = "the state dict", _unwrap(path)
    else:
        file = resolve_checkpoint(path)
        source = str(file)
        state = _unwrap(_torch_load(file), source)
    weights = check_state_dict(state, config, source)
    model = _meta_model(config).to_empty(device=device)
    model.load_state_dict(weights, strict=True)
    _warn_on_unusual_filters(model)
    log.info("loaded the motion autoencoder from %s", source)
    return model.to(dtype=dtype).eval().requires_grad_(False)
