"""`avatar-forcing obs-setup`: add the avatar overlay to OBS as a Browser Source (obs-websocket v5).

See obs_integration/README.md. The overlay page itself is served by `avatar-forcing serve`
(http://127.0.0.1:8765/overlay); this command only tells OBS to show it.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "add the avatar overlay (http://127.0.0.1:8765/overlay) to OBS as a Browser Source via obs-websocket"
PASSWORD_ENV = "OBS_WEBSOCKET_PASSWORD"
TOKEN_ENV = "AVATAR_FORCING_TOKEN"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--obs-url",
        default="ws://127.0.0.1:4455",
        help="OBS's websocket server (default: ws://127.0.0.1:4455; OBS: Tools > WebSocket Server Settings)",
    )
    p.add_argument(
        "--password",
        default=os.environ.get(PASSWORD_ENV) or None,
        help=f"OBS's websocket password (default: ${PASSWORD_ENV}, safer than the command line)",
    )
    p.add_argument("--scene", help="the scene to add the source to (default: the current program scene)")
    p.add_argument(
        "--source-name", default="Avatar Forcing", help="the browser source's name (default: %(default)s)"
    )
    p.add_argument(
        "--server",
        default="http://127.0.0.1:8765",
        help="the avatar service as OBS reaches it (default: http://127.0.0.1:8765)",
    )
    p.add_argument(
        "--session", default="*", help="the session to show (default: *, the one driving the server's sinks)"
    )
    p.add_argument(
        "--mode",
        default="motion",
        choices=["motion", "frames"],
        help="motion: the page draws the cartoon itself (cheapest); frames: the server renders the images",
    )
    p.add_argument("--renderer", help="frames mode: the server renderer (default: cartoon), e.g. portrait")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"the avatar service's token, put in the overlay URL (default: ${TOKEN_ENV})",
    )
    p.add_argument("--width", type=int, default=512, help="browser source width in pixels (default: 512)")
    p.add_argument("--height", type=int, default=512, help="browser source height in pixels (default: 512)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for OBS (default: 5)")
    p.add_argument(
        "--url-only",
        action="store_true",
        help="print the overlay URL (to add the Browser Source by hand) without contacting OBS",
    )


def run(args: argparse.Namespace) -> int:
    from obs_integration.obs_websocket import ObsError, overlay_url, setup_overlay

    if args.width < 1 or args.height < 1 or args.width > 8192 or args.height > 8192:
        print(f"error: --width and --height must be 1..8192, got {args.width}x{args.height}", file=sys.stderr)
        return 2
    extra: dict[str, str | int | None] = {}
    if args.mode == "frames":
        extra["renderer"] = args.renderer
        size = min(args.width, args.height)
        extra["size"] = size if size != 512 else None
    elif args.renderer:
        print(
            "error: --renderer is for --mode frames (motion mode draws the cartoon in the page)",
            file=sys.stderr,
        )
        return 2
    try:
        url = overlay_url(args.server, session=args.session, mode=args.mode, token=args.token, **extra)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.url_only:
        print(url)
        return 0
    try:
        summary = setup_overlay(
            args.obs_url,
            args.password,
            url,
            scene=args.scene,
            source_name=args.source_name,
            width=args.width,
            height=args.height,
            timeout=args.timeout,
        )
    except (ObsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary)
    if args.token:
        print("note: the overlay URL holds the service token; OBS stores it in its scene collection")
    print(
        "start the avatar service (avatar-forcing serve) if it is not running; the overlay connects by itself"
    )
    return 0
