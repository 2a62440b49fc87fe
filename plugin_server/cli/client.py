"""`avatar-forcing client`: stream an audio file to a running server and print / save the motion."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "example client: stream an audio file to `avatar-forcing serve` in real time, get the motion back"
SHOWN = ("JawOpen", "EyeBlinkLeft", "HeadYaw", "HeadPitch")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", required=True, help="the avatar's speech (WAV/FLAC/OGG, any rate)")
    p.add_argument("--user-audio", help="the user's audio on the same clock (default: none)")
    p.add_argument("--url", default="ws://127.0.0.1:8765", help="server URL (default: ws://127.0.0.1:8765)")
    p.add_argument(
        "--token",
        default=os.environ.get("AVATAR_FORCING_TOKEN") or None,
        help="the server's token (default: $AVATAR_FORCING_TOKEN)",
    )
    p.add_argument("--out", help="write the motion to this .json or .csv file")
    p.add_argument("--json", action="store_true", help="JSON text frames instead of msgpack")
    p.add_argument(
        "--naming", default="arkit", choices=["arkit", "vrm", "vrm1", "vts"], help="motion channel names"
    )
    p.add_argument("--seed", type=int, default=0, help="the session's noise seed")
    p.add_argument("--lead", type=float, default=0.2, help="seconds audio is sent ahead of the clock")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from websockets.exceptions import InvalidStatus, WebSocketException

    from plugin_server.protocol import Error, Motion, ServerMessage, Stats
    from plugin_server.server.client import HandshakeError, stream_audio

    if args.out and not args.out.lower().endswith((".json", ".csv")):
        print("error: --out must end in .json or .csv", file=sys.stderr)
        return 2
    shown: list[int] = []

    def show(msg: ServerMessage) -> None:
        if isinstance(msg, Motion):
            if not shown:
                picked = [i for i, n in enumerate(msg.names) if n in SHOWN]
                shown.extend(picked or range(min(4, len(msg.names))))
            for i, t in enumerate(msg.timestamps):
                if (msg.frame + i) % msg.fps == 0:  # one line per second
                    values = " ".join(f"{msg.names[j]}={msg.values[i][j]:+.3f}" for j in shown[:4])
                    print(f"t={t:7.2f} s  frame {msg.frame + i:6d}  {values}", flush=True)
        elif isinstance(msg, Error):
            print(f"server error {msg.code}: {msg.message}", file=sys.stderr, flush=True)
        elif isinstance(msg, Stats):
            print(
                f"stats: t={msg.t:.1f} s rtf={msg.rtf:.2f} block={msg.block_ms:.0f} ms "
                f"late={msg.late_blocks} dropped={msg.dropped_frames}",
                flush=True,
            )

    config = {"seed": args.seed, "naming": args.naming, "stats_interval_s": 5.0}
    try:
        result = asyncio.run(
            stream_audio(
                args.url,
                args.audio,
                args.user_audio,
                token=args.token,
                binary=not args.json,
                config=config,
                lead_s=args.lead,
                on_message=show,
            )
        )
    except HandshakeError as e:
        print(f"error: the server refused the session: {e}", file=sys.stderr)
        return 1
    except InvalidStatus as e:
        print(f"error: the server refused the connection: HTTP {e.response.status_code}", file=sys.stderr)
        return 1
    except (OSError, WebSocketException) as e:
        print(f"error: cannot talk to {args.url}: {e}", file=sys.stderr)
        return 1
    numbers, _, _, _ = result.frames()
    late = result.lateness()
    print(
        f"received {len(numbers)} frames in {len(result.motion)} blocks, "
        f"{len(result.avatar_audio)} audio blocks, {len(result.errors)} errors"
        + (f"; block latency median {1000 * sorted(late)[len(late) // 2]:.0f} ms" if late else "")
    )
    if args.out:
        path = result.write(args.out)
        print(f"wrote {len(numbers)} frames to {path}")
    return 0
