"""Command-line values shared by several commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def key_values(items: Sequence[str], flag: str) -> dict[str, Any]:
    """Parse repeated `KEY=VALUE` options; a VALUE is read as JSON where it parses (numbers,
    true/false, null, lists), else kept as a string. Raises ValueError naming `flag`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} wants KEY=VALUE; got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def add_backend_arguments(p: Any, onnx_dir: bool = True) -> None:
    """--backend torch|onnx (and --onnx-dir) of the commands that run the generator."""
    p.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="how the generator network runs: torch (default) or onnx (onnxruntime, CUDA provider when "
        "installed, else CPU; the graphs are exported on first use and cached under "
        "~/.cache/avatar-forcing/onnx; pip install onnx onnxruntime)",
    )
    if onnx_dir:
        p.add_argument(
            "--onnx-dir",
            metavar="DIR",
            help="with --backend onnx: the graphs written by 'avatar-forcing export-onnx --out DIR' "
            "for this model (default: the cache)",
        )


def apply_backend(generator: Any, args: Any) -> str | None:
    """Attach the backend chosen by --backend / --onnx-dir to `generator` (a MotionGenerator);
    returns an error message for the user, or None."""
    from models.generator.backend import use_backend
    from models.generator.onnx_export import OnnxUnavailableError

    name = getattr(args, "backend", "torch")
    onnx_dir = getattr(args, "onnx_dir", None)
    if onnx_dir and name != "onnx":
        return "--onnx-dir needs --backend onnx"
    try:
        use_backend(generator, name, onnx_dir=onnx_dir)
    except (OnnxUnavailableError, FileNotFoundError, ValueError) as e:
        return f"--backend {name}: {e}"
    return None
