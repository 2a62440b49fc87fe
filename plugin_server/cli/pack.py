"""`avatar-forcing pack`: a corpus's training inputs (features + motion) in one small file.

Training reads the pack (`avatar-forcing train --corpus corpus.pack.xz`) exactly like the corpus
folder, without its audio: about 20 times smaller, and no feature extraction at start-up. Use it
to move a corpus to a training machine.
"""

from __future__ import annotations

import argparse

HELP = "pack a corpus's features and motion into one small file for training elsewhere"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="folder of conversations made by `avatar-forcing corpus`")
    p.add_argument("--out", required=True, help="the pack to write (name ends with .pack.xz)")
    p.add_argument("--limit", type=int, default=None, help="pack the first N conversations")
    p.add_argument("--model", default=None, help="take the audio front end of this checkpoint")


def run(args: argparse.Namespace) -> int:
    from models.bundle import AvatarForcingModel, default_card
    from models.training.data import PACK_SUFFIX, corpus_files, save_pack

    if not args.out.endswith(PACK_SUFFIX):
        raise SystemExit(f"--out must end with {PACK_SUFFIX} (got {args.out!r})")
    files = corpus_files(args.corpus)[: args.limit]
    front_end = AvatarForcingModel.load(args.model).card.front_end if args.model else default_card().front_end
    path = save_pack(files, front_end, args.out, progress=True)
    print(f"{len(files)} conversations packed into {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
