"""`avatar-forcing animate`: audio files in, 25-fps ARKit motion out, on the live streaming path."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import paper
from .options import add_backend_arguments, apply_backend

HELP = "animate an avatar offline: its speech (and the user's audio / face motion) to ARKit frames"
log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--avatar-audio", required=True, help="the avatar's speech (WAV/FLAC/OGG, any rate, mono or stereo)"
    )
    p.add_argument("--user-audio", help="the user's audio on the same clock (default: silence)")
    p.add_argument(
        "--user-motion",
        help="the user's face motion, CSV or JSON of ARKit frames at the model's fps (default: neutral)",
    )
    p.add_argument(
        "--out", required=True, nargs="+", help="output file(s): .csv and/or .json (.npy with --preset paper)"
    )
    p.add_argument("--model", help="model checkpoint (default: the bundled model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--block-frames", type=int, help="realtime block size in frames (default: the model's)")
    p.add_argument("--nfe", type=int, help="sampler steps (default: the model's)")
    p.add_argument(
        "--names",
        choices=["pascal", "camel", "lr"],
        default="pascal",
        help="channel spelling: EyeBlinkLeft, eyeBlinkLeft or eyeBlink_L",
    )
    add_backend_arguments(p)
    paper.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.preset == "paper":
        return paper.run_animate(args)
    import dataclasses

    import soundfile as sf

    from models.bundle import AvatarForcingModel
    from models.motion.io import motion_format, read_motion, write_motion
    from models.stream import animate

    for out in args.out:
        motion_format(out)  # fail before any work on a bad extension
    model = AvatarForcingModel.load(args.model)
    error = apply_backend(model.generator, args)
    if error:
        raise SystemExit(f"error: {error}")
    sampler = model.card.sampler
    if args.block_frames:
        sampler = dataclasses.replace(sampler, block_frames=args.block_frames)
    if args.nfe:
        sampler = dataclasses.replace(sampler, nfe=args.nfe)
    avatar, a_rate = sf.read(args.avatar_audio, dtype="float32", always_2d=False)
    user, u_rate = (None, None)
    if args.user_audio:
        user, u_rate = sf.read(args.user_audio, dtype="float32", always_2d=False)
    user_motion = None
    if args.user_motion:
        user_motion, fps = read_motion(args.user_motion)
        if fps is not None and abs(fps - model.card.fps) > 1e-3:
            raise SystemExit(f"--user-motion is at {fps} fps; the model runs at {model.card.fps} fps")
    motion = animate(model, avatar, a_rate, user, u_rate, user_motion, sampler, seed=args.seed)
    for out in args.out:
        write_motion(out, motion, model.card.fps, args.names)
        seconds = len(motion) / model.card.fps
        print(f"wrote {len(motion)} frames ({seconds:.2f} s at {model.card.fps} fps) to {Path(out)}")
    return 0
