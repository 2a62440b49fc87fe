"""`avatar-forcing demo`: an MP4 (with sound) of the avatar in a conversation, on the server's engine.

The bundled sample conversation (models/samples: the avatar's voice, the user's voice and the
user's tracked face) or your own recordings go through `plugin_server.session.offline.run_offline`
(a `Session` on a virtual clock: exactly what `serve` would generate), then through a renderer
(`--renderer`, any registered one) into an H.264/AAC MP4 with both voices mixed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import paper
from .options import add_backend_arguments, apply_backend

HELP = "render an MP4 (with sound) of the avatar talking and listening, from the bundled sample or your audio"
log = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"
STILL_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg"}
USER_LOOK = {"skin": "#E3B48F", "hair": "#2F2A26", "eyes": "#6B4A2F", "shirt": "#3C9A6E"}  # cartoon user


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo.mp4", help="output MP4 (default: demo.mp4)")
    p.add_argument(
        "--renderer",
        default="cartoon",
        metavar="SPEC",
        help="NAME[:KEY=VALUE,...]: cartoon (default), portrait, portrait:image=me.jpg, cartoon:hair=#202020",
    )
    p.add_argument("--size", type=int, default=512, help="avatar image size in pixels (default: 512)")
    p.add_argument(
        "--avatar-audio", help="the avatar's speech, any rate (default: the bundled sample conversation)"
    )
    p.add_argument(
        "--user-audio", help="the user's audio on the same clock (default: the sample's, or silence)"
    )
    p.add_argument(
        "--user-motion", help="the user's face motion, CSV or JSON of ARKit frames (default: the sample's)"
    )
    p.add_argument(
        "--layout",
        choices=["avatar", "conversation"],
        default=None,
        help="avatar: the avatar alone; conversation: the user (cartoon, from the user's face motion) "
        "beside the avatar (default: conversation when there is user motion)",
    )
    p.add_argument("--model", help="model checkpoint (default: the bundled model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--background", default="#1E2230", help="video background colour (default: #1E2230)")
    p.add_argument(
        "--still",
        action="append",
        default=[],
        metavar="SECONDS:PATH",
        help="also save the avatar frame at SECONDS as .png/.webp (alpha kept) or .jpg, repeatable",
    )
    p.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better (default: 20)")
    add_backend_arguments(p)
    paper.add_arguments(p)


def _read_audio(path: str) -> tuple[object, int]:
    import soundfile as sf

    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=False)
    except Exception as e:  # soundfile raises RuntimeError / LibsndfileError for unreadable files
        raise ValueError(f"cannot read audio {path!r}: {e}") from None
    return samples, int(rate)


def _mono48k(samples: object, rate: int, frames: int) -> object:
    import numpy as np
    import soxr

    x = np.asarray(samples, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    y = soxr.resample(x, rate, 48000) if rate != 48000 else x
    n = round(frames * 48000 / 25)
    return np.pad(y, (0, max(0, n - len(y))))[:n]


def _parse_stills(specs: list[str]) -> list[tuple[float, Path]]:
    out = []
    for spec in specs:
        at, sep, path = spec.partition(":")
        try:
            seconds = float(at)
        except ValueError:
            seconds = -1.0
        if not sep or not path or seconds < 0:
            raise ValueError(f"--still {spec!r}: expected SECONDS:PATH, e.g. 3.2:avatar.png")
        if Path(path).suffix.lower() not in STILL_FORMATS:
            raise ValueError(f"--still {spec!r}: the file must end in one of {sorted(STILL_FORMATS)}")
        out.append((seconds, Path(path)))
    return out


def run(args: argparse.Namespace) -> int:
    if args.preset == "paper":
        return paper.run_demo(args)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from models.bundle import AvatarForcingModel
    from models.motion.io import read_motion
    from models.render import RendererError, create_renderer, encode_image, parse_renderer_spec
    from models.render.video import Mp4Writer, parse_color
    from plugin_server.session.offline import run_offline

    stills = _parse_stills(args.still)
    if not 16 <= args.size <= 2048 or args.size % 2:
        raise ValueError(f"--size must be an even number in 16..2048, got {args.size}")
    sample = args.avatar_audio is None
    avatar_path = args.avatar_audio or str(SAMPLES / "avatar.flac")
    user_path = args.user_audio or (str(SAMPLES / "user.flac") if sample else None)
    motion_path = args.user_motion or (str(SAMPLES / "user_motion.csv") if sample else None)
    try:
        name, options = parse_renderer_spec(args.renderer)
        options.setdefault("width", str(args.size))
        options.setdefault("height", str(args.size))
        renderer = create_renderer(name, **options)
        background = parse_color(args.background)
    except RendererError as e:
        raise ValueError(f"--renderer: {e}") from None
    layout = args.layout or ("conversation" if motion_path else "avatar")
    if layout == "conversation" and not motion_path:
        raise ValueError("--layout conversation needs the user's face motion (--user-motion)")
    user_renderer = None
    if layout == "conversation":
        user_renderer = create_renderer("cartoon", width=args.size, height=args.size, **USER_LOOK)

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    model = AvatarForcingModel.load(args.model)
    problem = apply_backend(model.generator, args)
    if problem:
        raise ValueError(problem)
    avatar, a_rate = _read_audio(avatar_path)
    user, u_rate = _read_audio(user_path) if user_path else (None, None)
    user_motion = None
    if motion_path:
        user_motion, fps = read_motion(motion_path)
        if fps is not None and abs(fps - model.card.fps) > 1e-3:
            raise ValueError(f"{motion_path} is at {fps} fps; the model runs at {model.card.fps} fps")

    bar = tqdm(total=1, desc="motion", unit="frame", leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # tqdm redraws at most every mininterval

    motion = run_offline(
        model, avatar, a_rate, user, u_rate, user_motion, config={"seed": args.seed}, on_progress=progress
    )  # (T, 58)
    bar.close()
    fps = model.card.fps
    frames = len(motion)
    audio = _mono48k(avatar, a_rate, frames)
    if user is not None:
        audio = audio + 0.8 * _mono48k(user, u_rate or a_rate, frames)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak > 0.98:
        audio = audio * (0.98 / peak)

    width = args.size * (2 if user_renderer else 1)
    user_rows = None
    if user_renderer is not None and user_motion is not None:
        user_rows = np.zeros((frames, motion.shape[1]), np.float32)
        n = min(frames, len(user_motion))
        user_rows[:n] = user_motion[:n]
        if n < frames and n:
            user_rows[n:] = user_motion[n - 1]
    still_at = {min(frames - 1, round(s * fps)): p for s, p in stills}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with Mp4Writer(out, width, args.size, fps, background=background, crf=args.crf) as writer:
        writer.write_audio(audio)
        for k in tqdm(range(frames), desc="render", unit="frame", leave=False):
            image = renderer.render(motion[k])  # (H, W, 4)
            if k in still_at:
                still_at[k].parent.mkdir(parents=True, exist_ok=True)
                fmt = STILL_FORMATS[still_at[k].suffix.lower()]
                still_at[k].write_bytes(encode_image(image, fmt))
            if user_renderer is not None and user_rows is not None:
                image = np.concatenate([user_renderer.render(user_rows[k]), image], axis=1)
            writer.write_frame(image)
    seconds = frames / fps
    print(
        f"wrote {out} ({frames} frames, {seconds:.1f} s at {fps} fps, {width}x{args.size}, renderer {name})"
    )
    for path in still_at.values():
        print(f"wrote {path}")
    return 0
