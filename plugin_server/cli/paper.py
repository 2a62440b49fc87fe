"""`--preset paper --weights DIR` of `animate` and `demo`: the paper's photoreal path.

Not a command of its own: `demo` and `animate` hand over here when given `--preset paper`.
- demo: the avatar's (and the user's) audio -> motion latents -> frames decoded from the portrait
  (`--portrait`, default the bundled astronaut) -> an MP4 with both voices, at the autoencoder's
  size (512x512).
- animate: the same stream without decoding; writes the 512-d motion latents (T, 512) float32 as
  .npy (the ARKit CSV / JSON formats do not apply to this motion space).
The user side is the user's audio (or silence) and their face: `--user-video` (a recording of the
user's webcam, face centred) read at 25 fps and encoded by the motion encoder, else the neutral
(zero) user motion.

A missing or incomplete weights folder exits with status 2 and the list of what is missing.

`serve --preset paper` (`serve_server` here) serves live `PaperSession`s (plugin_server/session/
paper.py): one portrait for the server (`--portrait`), `user_video` face images as the user's
motion, `rendered_frame`s and avatar audio out; no `motion` output and no ARKit sinks. It needs a
GPU to keep up with the paper-size model (one 10-frame block is tens of seconds on two CPU cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.paper.pipeline import PaperAvatar
    from models.paper.weights_folder import PaperConfig
    from plugin_server.server import ServerConfig
    from plugin_server.server.paper import PaperServer

# The geometry the commands load; None = the paper's (tests swap in PaperConfig.tiny()).
CONFIG: PaperConfig | None = None
SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"
DEFAULT_PORTRAIT = SAMPLES / "astronaut.jpg"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--preset / --weights / --portrait, shared by animate and demo."""
    p.add_argument(
        "--preset",
        choices=["paper"],
        help="paper: the paper's photoreal model (512-d motion latents decoded to 512x512 frames) from "
        "--weights DIR, instead of the ARKit model of --model",
    )
    p.add_argument(
        "--weights",
        metavar="DIR",
        help="with --preset paper: the official weights (flow_transformer.pth, motion_autoencoder.pth, "
        "wav2vec2-base-960h/); an incomplete folder is refused with the list of missing files",
    )
    p.add_argument(
        "--portrait",
        metavar="PHOTO",
        help="with --preset paper: the avatar's face photo, a face-centred crop "
        "(default: the bundled astronaut)",
    )
    add_device_argument(p)
    p.add_argument(
        "--user-video",
        metavar="VIDEO",
        help="with --preset paper: the user's face on camera (any video file FFmpeg reads, the face "
        "centred as a webcam frames it), read at 25 fps and encoded by the motion encoder as the "
        "user's motion (default: a neutral user)",
    )


def add_device_argument(p: Any) -> None:  # a parser or an argument group
    """--device of the paper preset (animate, demo, serve)."""
    p.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="with --preset paper: where its networks run: auto (a CUDA GPU when torch has one, else "
        "the CPU), cpu, cuda or cuda:N (default: auto)",
    )


def _device(args: argparse.Namespace) -> Any:
    """The torch device of --device (ValueError naming the fix when CUDA is missing)."""
    from models.generator.benchmark import resolve_device

    return resolve_device(getattr(args, "device", None) or "auto")


def _user_frames(args: argparse.Namespace, fps: int) -> object:
    """--user-video as (n, H, W, 3) uint8 frames at the model's fps, or None."""
    if not getattr(args, "user_video", None):
        return None
    from models.render.video import read_video

    return read_video(args.user_video, fps)


def _checked_inputs(args: argparse.Namespace) -> Any:
    """Check --weights (every missing file listed) and read --portrait: (H, W, 3) uint8 RGB."""
    import numpy as np

    from models.paper.weights_folder import check_weights_folder
    from models.render.encode import decode_image

    if not args.weights:
        raise ValueError(
            "--preset paper needs --weights DIR: a folder with the official Avatar Forcing weights "
            "(flow_transformer.pth, motion_autoencoder.pth) and wav2vec2-base-960h/"
        )
    check_weights_folder(args.weights, _config())  # fails fast, listing every missing file
    portrait_path = Path(args.portrait) if args.portrait else DEFAULT_PORTRAIT
    if not portrait_path.is_file():
        raise FileNotFoundError(f"portrait not found: {portrait_path}")
    return np.ascontiguousarray(decode_image(portrait_path.read_bytes())[..., :3])


def _config() -> PaperConfig:
    from models.paper.weights_folder import PAPER

    return CONFIG or PAPER


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _load_avatar(args: argparse.Namespace) -> PaperAvatar:
    import dataclasses

    import torch

    from models.generator.onnx_export import OnnxUnavailableError
    from models.paper.pipeline import PaperAvatar

    from .options import apply_backend

    portrait = _checked_inputs(args)  # (H, W, 3)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    sampler = _config().sampler
    if getattr(args, "nfe", None):
        sampler = dataclasses.replace(sampler, nfe=args.nfe)
    if getattr(args, "block_frames", None):
        sampler = dataclasses.replace(sampler, block_frames=args.block_frames)
    backend = getattr(args, "backend", "torch")
    try:
        avatar = PaperAvatar.from_folder(
            args.weights,
            _config(),
            device=_device(args),
            sampler_config=sampler,
            seed=args.seed,
            decoder_backend=backend,
        )
    except OnnxUnavailableError as e:
        raise ValueError(f"--backend {backend}: {e}") from None
    problem = apply_backend(avatar.components.generator, args)  # the generator's step on the same backend
    if problem:
        raise ValueError(problem)
    avatar.set_portrait(portrait)
    return avatar


def serve_server(args: argparse.Namespace, config: ServerConfig, sinks: list[Any]) -> PaperServer:
    """`serve --preset paper`: the server on the paper's networks and portrait. Raises ValueError
    (PaperWeightsError listing every missing file), FileNotFoundError or ImportError for the user."""

    from models.paper.pipeline import PaperComponents
    from plugin_server.server.paper import PaperServer
    from plugin_server.session.paper import PaperServeSpec

    from .options import apply_backend

    if getattr(args, "model", None):
        raise ValueError("--model picks an ARKit model; --preset paper loads --weights DIR")
    if getattr(args, "mic", None) is not None or getattr(args, "webcam", None) is not None:
        raise ValueError("--mic / --webcam (the local session) are not available with --preset paper yet")
    bad = [s.name for s in sinks if set(getattr(s, "consumes", {"motion"})) - {"audio"}]
    if bad:
        raise ValueError(
            f"--sink {', '.join(bad)}: these sinks take ARKit frames (VMC, VTube Studio) or images rendered "
            "from them (virtual camera); --preset paper has no ARKit motion (only the audio sink works)"
        )
    portrait = _checked_inputs(args)  # (H, W, 3)
    components = PaperComponents.from_folder(args.weights, _config(), _device(args))
    problem = apply_backend(components.generator, args)
    if problem:
        raise ValueError(problem)
    spec = PaperServeSpec.create(components, portrait, decoder_backend=getattr(args, "backend", "torch"))
    return PaperServer(spec, config, sinks)


def run_animate(args: argparse.Namespace) -> int:
    """`animate --preset paper`: motion latents (T, 512) to .npy."""
    import numpy as np
    import soundfile as sf

    from models.paper.pipeline import stream_recording

    try:
        bad = [o for o in args.out if Path(o).suffix.lower() != ".npy"]
        if bad:
            raise ValueError(
                f"--preset paper writes the 512-d motion latents as .npy (ARKit CSV/JSON do not apply): {bad}"
            )
        if args.user_motion:
            raise ValueError(
                "--user-motion holds ARKit frames; the paper preset's user motion comes from face crops"
            )
        avatar = _load_avatar(args)
        audio, rate = sf.read(args.avatar_audio, dtype="float32", always_2d=False)
        user, u_rate = (None, None)
        if args.user_audio:
            user, u_rate = sf.read(args.user_audio, dtype="float32", always_2d=False)
        start = time.perf_counter()
        blocks = [
            m
            for m, _ in stream_recording(
                avatar, audio, rate, user, u_rate, user_frames=_user_frames(args, avatar.fps), decode=False
            )
        ]
        motion = np.concatenate(blocks).astype(np.float32)  # (T, 512)
    except (ValueError, FileNotFoundError, ImportError) as e:
        return _fail(str(e))
    for out in args.out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        np.save(out, motion)
        seconds = motion.shape[0] / avatar.fps
        print(
            f"wrote {motion.shape[0]} frames x {motion.shape[1]} motion latents ({seconds:.2f} s at "
            f"{avatar.fps} fps, computed in {time.perf_counter() - start:.1f} s) to {out}"
        )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """`demo --preset paper`: the decoded frames with the audio, as an MP4."""
    import numpy as np

    from models.paper.pipeline import stream_recording
    from models.render import RendererError
    from models.render.video import Mp4Writer, parse_color

    from .demo import SAMPLES as DEMO_SAMPLES
    from .demo import _mono48k, _read_audio

    try:
        if args.user_motion:
            raise ValueError(
                "--user-motion holds ARKit frames; the paper preset's user motion comes from face crops"
            )
        avatar = _load_avatar(args)
        sample = args.avatar_audio is None
        avatar_path = args.avatar_audio or str(DEMO_SAMPLES / "avatar.flac")
        user_path = args.user_audio or (str(DEMO_SAMPLES / "user.flac") if sample else None)
        audio, rate = _read_audio(avatar_path)
        user, u_rate = _read_audio(user_path) if user_path else (None, None)
        size, fps = avatar.size, avatar.fps
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        start = time.perf_counter()
        with Mp4Writer(out, size, size, fps, background=parse_color(args.background), crf=args.crf) as writer:
            for _, frames in stream_recording(
                avatar, audio, rate, user, u_rate, user_frames=_user_frames(args, fps), decode=True
            ):
                assert frames is not None
                for frame in frames:
                    writer.write_frame(frame)
                written += len(frames)
            mix = _mono48k(audio, rate, written)
            if user is not None:
                mix = mix + 0.8 * _mono48k(user, u_rate or rate, written)
            peak = float(np.abs(mix).max()) if len(mix) else 0.0
            writer.write_audio(mix * (0.98 / peak) if peak > 0.98 else mix)
    except (ValueError, FileNotFoundError, ImportError, RendererError) as e:
        return _fail(str(e))
    print(
        f"wrote {out} ({written} frames, {written / fps:.1f} s at {fps} fps, {size}x{size}, paper preset; "
        f"{time.perf_counter() - start:.1f} s)"
    )
    return 0
