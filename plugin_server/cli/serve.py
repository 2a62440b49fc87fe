"""`avatar-forcing serve`: the avatar service on a local websocket (plugin_server/server/README.md)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .options import add_backend_arguments, apply_backend
from .paper import add_device_argument

HELP = "serve the avatar protocol on a websocket (ws://127.0.0.1:8765 by default)"
TOKEN_ENV = "AVATAR_FORCING_TOKEN"
log = logging.getLogger(__name__)


def default_generation_threads(cores: int | None = None) -> int:
    """Torch threads for the generation thread: half the cores, at least 1, at most 4."""
    import os

    return max(1, min(4, (cores or os.cpu_count() or 2) // 2))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765; 0: any free port)")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"require this token from clients (?token=... or 'Authorization: Bearer ...'); mandatory "
        f"off loopback; default: ${TOKEN_ENV} (safer than the command line, which other users can see)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="browser Origin allowed to connect, repeatable; replaces the default (pages on localhost / "
        "127.0.0.1 / [::1] on any port, and file:// 'null'); forms: https://app.example, "
        "http://host:* (any port), * (any). Clients without an Origin header are always allowed",
    )
    p.add_argument(
        "--model",
        help="model checkpoint (default: the bundled model); 'random' runs an untrained model of the "
        "default architecture (to try the plumbing: the motion means nothing)",
    )
    add_backend_arguments(p)
    paper = p.add_argument_group(
        "paper preset",
        "--preset paper serves the paper's photoreal path: sessions get rendered_frame images decoded "
        "from --portrait (output 'frames') and their avatar audio; no 'motion' output (512-d latents, "
        "not blendshapes), no ARKit sinks (VMC, VTube Studio, virtual camera), no --mic / --webcam",
    )
    paper.add_argument(
        "--preset",
        choices=["paper"],
        help="paper: the paper's model from --weights DIR instead of the ARKit model of --model",
    )
    paper.add_argument(
        "--weights",
        metavar="DIR",
        help="with --preset paper: the official weights (flow_transformer.pth, motion_autoencoder.pth, "
        "wav2vec2-base-960h/); an incomplete folder is refused with the list of missing files",
    )
    paper.add_argument(
        "--portrait",
        metavar="PHOTO",
        help="with --preset paper: the avatar's face photo, a face-centred crop, shared by every session "
        "(default: the bundled astronaut)",
    )
    add_device_argument(paper)
    p.add_argument(
        "--sink",
        action="append",
        metavar="SPEC",
        help="output sink NAME[:KEY=VALUE,...], repeatable, e.g. vmc:port=39539, vtube_studio, audio:"
        "av_offset_ms=120; sinks follow the oldest connected session",
    )
    p.add_argument(
        "--renderer",
        default="cartoon",
        metavar="SPEC",
        help="renderer of the virtual_camera sink: NAME[:KEY=VALUE,...], e.g. cartoon, portrait, "
        "portrait:image=me.jpg (default: cartoon, sized to the camera); its options are also the "
        "defaults for clients and overlays that pick this renderer (the only way to choose the "
        "portrait photo: clients may not name files on the server)",
    )
    p.add_argument(
        "--session-sinks",
        metavar="NAMES",
        help="sinks clients may ask for in their session config (\"sinks\"), comma-separated, or 'none' "
        "(default: all of them on loopback, none when bound elsewhere)",
    )
    p.add_argument("--max-sessions", type=int, default=8, help="sessions held at once (default: 8)")
    p.add_argument(
        "--grace", type=float, default=30.0, help="seconds a dropped session waits for a resume (default: 30)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads for generation (default: half the CPU cores, 1 to 4: the event loop, "
        "audio and sinks need the rest; on 2 cores 1 thread holds 2 real-time sessions, 2 threads none)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="most sessions whose due blocks run as one batched forward pass (default: 8; 1: no batching)",
    )
    p.add_argument(
        "--batch-window-ms",
        type=float,
        default=5.0,
        help="sessions due within this many ms of each other share a batched pass (default: 5, max 40)",
    )
    local = p.add_argument_group(
        "local session",
        "--mic / --webcam open a session owned by the server (id 'local'): its user side comes from this "
        'machine, its avatar voice from a websocket client that attaches with hello {"resume": "local"} '
        "(without one the avatar listens); the --sink sinks follow it",
    )
    local.add_argument(
        "--mic",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="the microphone as the user's audio: the default input device, or DEVICE (index or name "
        "substring; a wrong one lists the devices); needs sounddevice + PortAudio (the sinks extra)",
    )
    local.add_argument(
        "--mic-rate", type=int, metavar="HZ", help="capture rate (default: the device's own; any rate works)"
    )
    local.add_argument(
        "--webcam",
        nargs="?",
        const="0",
        metavar="INDEX",
        help="the user's face from a camera (index, default 0, or a video file) through MediaPipe Face "
        "Mesh, as ARKit user motion at 25 fps; look at the camera at rest for the first frames "
        "(calibration); needs pip install 'avatar-forcing[webcam]'",
    )
    local.add_argument(
        "--play-avatar-audio",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="play the avatar's voice on this machine (default output device, or DEVICE), delayed by "
        "--av-offset-ms to match the video; the same as --sink audio:device=...,av_offset_ms=...",
    )
    local.add_argument(
        "--av-offset-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="how long the played avatar voice waits behind its motion frames (default: 0; raise it by "
        "the video path's latency: renderer, VTuber app, capture)",
    )


def _load_model(spec: str | None):  # type: ignore[no-untyped-def]
    from models.bundle import AvatarForcingModel, default_card

    if spec == "random":
        log.warning("--model random: an untrained model; its motion means nothing")
        return AvatarForcingModel(default_card()).eval()
    return AvatarForcingModel.load(spec)


def _local_spec(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The local session of --mic / --webcam (None without them); the webcam's packages are
    checked here, before the model loads, so a missing extra fails at once."""
    from plugin_server.capture import MicrophoneCapture, MicrophoneSource, parse_device
    from plugin_server.server import LocalSessionSpec

    sources = []
    if args.mic is not None:
        capture = MicrophoneCapture(device=parse_device(args.mic), samplerate=args.mic_rate, blocksize=None)
        sources.append(MicrophoneSource(capture))
    if args.webcam is not None:
        from plugin_server.capture.webcam import WebcamCapture, WebcamSource, import_mediapipe

        import_mediapipe()
        device: int | str = int(args.webcam) if args.webcam.strip().isdigit() else args.webcam
        sources.append(WebcamSource(WebcamCapture(device)))
    return LocalSessionSpec(sources=tuple(sources)) if sources else None


def _session_sinks(text: str | None) -> tuple[str, ...] | None:
    """--session-sinks: None (the default rule), () for 'none', else the checked names."""
    from plugin_server.sinks import available_sinks

    if text is None:
        return None
    names = tuple(n.strip().lower().replace("-", "_") for n in text.split(",") if n.strip())
    if names in ((), ("none",)):
        return ()
    unknown = sorted(set(names) - set(available_sinks()))
    if unknown:
        raise ValueError(f"--session-sinks: unknown sink(s) {unknown}; valid: {', '.join(available_sinks())}")
    return names


def _attach_renderers(sinks: list, spec: str) -> None:  # type: ignore[type-arg]
    """Give image sinks without a renderer (the virtual camera) one from `spec`, at their size."""
    from models.render import create_renderer, parse_renderer_spec

    for sink in sinks:
        if "image" not in getattr(sink, "consumes", ()) or getattr(sink, "renderer", False) is not None:
            continue
        name, options = parse_renderer_spec(spec)
        options.setdefault("width", str(sink.width))
        options.setdefault("height", str(sink.height))
        renderer = create_renderer(name, **options)
        sink.renderer = lambda frame, r=renderer: r.render(frame.values)
        log.info("%s sink renders with %s %s", sink.name, name, options)


def _client_renderers(spec: str):  # type: ignore[no-untyped-def]
    """The sessions' renderer factory: the --renderer spec's options are defaults for its renderer
    (None when skia is missing: no `frames` output)."""
    from models.render import create_renderer, parse_renderer_spec
    from plugin_server.session.frames import client_renderers, renderer_available

    if not renderer_available():
        return None
    name, options = parse_renderer_spec(spec)
    options.pop("width", None)
    options.pop("height", None)
    return client_renderers(create_renderer, {name.strip().lower(): options})


def run(args: argparse.Namespace) -> int:

    import torch

    from models.render import RendererError
    from plugin_server.capture import parse_device
    from plugin_server.server import AvatarServer, InsecureBindError, ServerConfig, check_bind
    from plugin_server.server.security import DEFAULT_ORIGINS
    from plugin_server.sinks import SinkError, create_sink, parse_sink_spec

    try:
        check_bind(args.host, args.token)
        config = ServerConfig(
            host=args.host,
            port=args.port,
            token=args.token,
            allowed_origins=tuple(args.allow_origin) if args.allow_origin else DEFAULT_ORIGINS,
            max_sessions=args.max_sessions,
            grace_s=args.grace,
            max_batch=args.max_batch,
            batch_window_s=args.batch_window_ms / 1000.0,
            session_sinks=_session_sinks(args.session_sinks),
        )
    except InsecureBindError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or default_generation_threads())
    try:
        sinks = []
        for spec in args.sink or []:
            name, options = parse_sink_spec(spec)
            sinks.append(create_sink(name, **options))
        if args.play_avatar_audio is not None:
            sinks.append(
                create_sink(
                    "audio", device=parse_device(args.play_avatar_audio), av_offset_ms=args.av_offset_ms
                )
            )
    except SinkError as e:
        print(f"error: --sink: {e}", file=sys.stderr)
        return 2
    if getattr(args, "preset", None) == "paper":
        from .paper import serve_server

        try:
            server: AvatarServer = serve_server(args, config, sinks)
        except (ValueError, FileNotFoundError, ImportError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return _serve(server, args)
    try:
        _attach_renderers(sinks, args.renderer)
    except RendererError as e:
        print(f"error: --renderer: {e}", file=sys.stderr)
        return 2
    try:
        local = _local_spec(args)
    except SinkError as e:  # CaptureUnavailableError: a missing package, with the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        model = _load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e} (pass --model PATH)", file=sys.stderr)
        return 2
    error = apply_backend(model.generator, args)  # every session's sampler evaluates through it
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    server = AvatarServer(model, config, sinks, local=local, renderers=_client_renderers(args.renderer))
    return _serve(server, args)


def _serve(server, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """Run `server` until SIGINT / SIGTERM, printing where it listens."""
    import asyncio

    from plugin_server.server import AvatarServer, run_server
    from plugin_server.sinks import SinkError

    config, sinks, local = server.config, server.router.sinks, server.local

    def ready(s: AvatarServer) -> None:
        print(f"avatar-forcing: serving protocol v1 on {s.url}", flush=True)
        if config.token:
            print("  clients must send the token: ?token=... or 'Authorization: Bearer ...'", flush=True)
        http = f"http{s.url[2:].rstrip('/')}"
        print(f"  health: {http}/health", flush=True)
        token = "&token=<your token>" if config.token else ""
        print(f"  OBS overlay (Browser Source): {http}/overlay?session=*{token}", flush=True)
        if getattr(args, "preset", None) == "paper":
            print(
                "  preset: paper (outputs frames, audio, events, stats; input audio, user_video)", flush=True
            )
        if sinks:
            print(f"  sinks: {', '.join(s.name for s in sinks)} (following the oldest session)", flush=True)
        if local is not None:
            names = ", ".join(src.name for src in local.sources)
            print(
                f"  local session {local.session_id!r} ({names}): attach with "
                f'{{"type": "hello", "version": 1, "resume": "{local.session_id}"}}',
                flush=True,
            )
        print("  stop with Ctrl+C (or SIGTERM)", flush=True)

    try:
        asyncio.run(run_server(server, ready))
    except SinkError as e:  # a sink or capture device that cannot run here
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    print("avatar-forcing: stopped", flush=True)
    return 0
