"""`avatar-forcing articulation`: give a model an articulation head trained on a corpus.

The head (models/generator/articulation.py) learns, from the model's own audio tokens, the
articulation class of each frame (the corpus's phone timings) and each class's mouth pose; the
sampler then blends that pose into the jaw and lips (`SamplerConfig.articulation`, written on the
card). The generator and the audio encoder are not touched: minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import shlex

HELP = "train a model's articulation head (mouth poses from its audio tokens) on a corpus; minutes on a CPU"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus",
        required=True,
        action="append",
        help="folder of conversations made by `avatar-forcing corpus` (audio and phone timings: not a "
        "feature pack); repeat it for several",
    )
    p.add_argument("--model", default=None, help="the checkpoint to extend (default: the bundled model)")
    p.add_argument("--out", required=True, help="the checkpoint to write")
    p.add_argument("--limit", type=int, default=None, help="use the first N conversations of each corpus")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=256, help="width of the head's hidden layer")
    p.add_argument(
        "--weight",
        type=float,
        default=0.75,
        help="share of the speech channels that follows the head (the card's sampler `articulation`, 0..1)",
    )
    p.add_argument("--validation", type=float, default=0.1, help="share of the conversations held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")


def run(args: argparse.Namespace) -> int:
    import torch

    from models.bundle import AvatarForcingModel
    from models.training.articulation import ArticulationConfig, train_head
    from models.training.data import PACK_SUFFIX, corpus_files

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = ArticulationConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            hidden=args.hidden,
            weight=args.weight,
            validation=args.validation,
            seed=args.seed,
        )
    except ValueError as e:
        raise SystemExit(f"avatar-forcing articulation: {e}") from None
    files = []
    for c in args.corpus:
        found = corpus_files(c)
        if any(f.name.endswith(PACK_SUFFIX) for f in found):
            raise SystemExit(f"--corpus {c}: a feature pack has no audio; give the corpus folder")
        files += found[: args.limit]
    model = AvatarForcingModel.load(args.model)
    out, record = train_head(model, files, config, progress=True)
    record["command"] = "avatar-forcing " + shlex.join(getattr(args, "argv", []) or [])
    record["base_model"] = str(args.model or "bundled default")
    training = {**out.card.training, "articulation": record}
    out.card = out.card.replace(training=training)
    out.save(args.out, half=args.half)
    shown = {k: record[k] for k in ("frames", "final_loss", "train_accuracy", "validation_accuracy")}
    print(f"articulation head: {json.dumps(shown)}; wrote {args.out}")
    return 0
