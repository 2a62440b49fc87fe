"""`avatar-forcing` command line: one sub-command per module, registered by name."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from . import (
    animate,
    articulation,
    bench,
    client,
    corpus,
    demo,
    evaluate,
    export_onnx,
    landmarks,
    obs,
    pack,
    parity,
    serve,
    train,
)

# name -> (add_arguments, run); run returns the process exit status.
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {
    "parity": (parity.add_arguments, parity.run, parity.HELP),
    "bench": (bench.add_arguments, bench.run, bench.HELP),
    "corpus": (corpus.add_arguments, corpus.run, corpus.HELP),
    "pack": (pack.add_arguments, pack.run, pack.HELP),
    "train": (train.add_arguments, train.run, train.HELP),
    "articulation": (articulation.add_arguments, articulation.run, articulation.HELP),
    "animate": (animate.add_arguments, animate.run, animate.HELP),
    "demo": (demo.add_arguments, demo.run, demo.HELP),
    "landmarks": (landmarks.add_arguments, landmarks.run, landmarks.HELP),
    "evaluate": (evaluate.add_arguments, evaluate.run, evaluate.HELP),
    "serve": (serve.add_arguments, serve.run, serve.HELP),
    "obs-setup": (obs.add_arguments, obs.run, obs.HELP),
    "client": (client.add_arguments, client.run, client.HELP),
    "export-onnx": (export_onnx.add_arguments, export_onnx.run, export_onnx.HELP),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avatar-forcing", description="Avatar Forcing: real-time listening and talking head motion."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add_arguments, _run, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the exact command line, recorded in training provenance
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return COMMANDS[args.command][1](args)


if __name__ == "__main__":
    sys.exit(main())
