"""`avatar-forcing export-onnx`: the generator's network as ONNX graphs (the `--backend onnx` models)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HELP = "export a checkpoint's generator to ONNX (conditions.onnx, step.onnx) for --backend onnx"
log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model checkpoint (default: the bundled model)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the graphs and manifest.json here (use with --onnx-dir DIR); default: the cache "
        "that --backend onnx reads (~/.cache/avatar-forcing/onnx/<hash>/)",
    )
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument(
        "--check-blocks",
        type=int,
        default=24,
        metavar="N",
        help="stream N blocks through torch and onnxruntime with the same noise and report the largest "
        "difference (default 24; 0 skips the check)",
    )


def run(args: argparse.Namespace) -> int:
    from models.bundle import AvatarForcingModel
    from models.generator.onnx_backend import OnnxBackend, compare_backends, require_onnxruntime
    from models.generator.onnx_export import (
        OPSET,
        OnnxUnavailableError,
        cached_export,
        export_generator,
        require_onnx,
    )

    try:
        require_onnx()
    except OnnxUnavailableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        model = AvatarForcingModel.load(args.model)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    opset = args.opset or OPSET
    generator = model.generator
    if args.out is not None:
        directory = export_generator(generator, args.out, opset)
    else:
        directory = cached_export(generator, opset=opset)
    files = ", ".join(sorted(p.name for p in directory.iterdir()))
    print(f"exported the generator to {directory} ({files})")
    if args.check_blocks > 0:
        try:
            require_onnxruntime()
        except OnnxUnavailableError as e:
            print(f"check skipped: {e}")
            return 0
        backend = OnnxBackend(directory)
        diff, scale, frames = compare_backends(
            generator, backend, model.card.sampler, blocks=args.check_blocks
        )
        print(
            f"check: {frames} frames streamed on torch and onnxruntime ({', '.join(backend.providers)}): "
            f"max |difference| {diff:.2e} (outputs up to {scale:.2f})"
        )
    return 0
