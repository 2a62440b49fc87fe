"""`avatar-forcing landmarks`: a photo's face landmarks for the portrait renderer, saved once.

Needs MediaPipe (the `webcam` extra); the saved .npz then lets the portrait renderer animate that
photo anywhere, without MediaPipe: `--renderer portrait:image=me.jpg,landmarks=me.npz`.
"""

from __future__ import annotations

import argparse
import sys

HELP = "detect a photo's face landmarks (MediaPipe) and save them for the portrait renderer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", help="a portrait photo (JPEG, PNG or WebP), one face, looking at the camera")
    p.add_argument("--out", required=True, help="the landmarks file to write (.npz)")


def run(args: argparse.Namespace) -> int:
    from models.render import RendererError
    from models.render.landmarks import main_landmarks

    try:
        main_landmarks(args.photo, args.out)
    except (RendererError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}; use it with --renderer portrait:image={args.photo},landmarks={args.out}")
    return 0
