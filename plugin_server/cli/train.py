"""`avatar-forcing train`: stage 1 (diffusion forcing) or stage 2 (DPO) on a conversation corpus."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Callable
from typing import Any

HELP = "train the motion generator on a corpus (stage 1 diffusion forcing, stage 2 DPO); resumable"
log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus",
        required=True,
        action="append",
        help="folder of conversations made by `avatar-forcing corpus`, or a feature pack (`avatar-forcing "
        "pack`); repeat it to train on several (e.g. a new corpus beside an older one)",
    )
    p.add_argument("--out", required=True, help="output folder: model.pt, train_state.pt (resume), log.jsonl")
    p.add_argument("--stage", choices=["df", "dpo"], default="df")
    p.add_argument("--init", help="start from this checkpoint (required for --stage dpo: the stage-1 model)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 3e-4 for df, 3e-5 for dpo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)"
    )
    p.add_argument("--window", type=int, default=50, help="frames per training window")
    p.add_argument(
        "--cond-chunk",
        type=int,
        default=None,
        help="condition encoding block (default: the model's realtime block)",
    )
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--dpo-weight", type=float, default=0.1)
    p.add_argument("--dpo-beta", type=float, default=1000.0)
    p.add_argument("--loser-nfe", type=int, default=10, help="sampler steps for the DPO talking-only losers")
    p.add_argument(
        "--df-loss",
        choices=["l1", "l2"],
        default="l1",
        help="norm of the diffusion loss (stage 1, and the DF term of stage 2): l1 (the paper) or l2",
    )
    p.add_argument(
        "--lip-weight",
        type=float,
        default=0.0,
        help="weight of the auxiliary lip-reading loss on the audio encoder (stage 1; e.g. 0.5)",
    )
    p.add_argument(
        "--viseme-weight",
        type=float,
        default=0.0,
        help="weight of the auxiliary viseme classification loss on the audio encoder (stage 1; "
        "needs the corpus's phone timings: a corpus folder or a pack of format /2; e.g. 0.02)",
    )
    p.add_argument(
        "--reaction-weight",
        type=float,
        default=0.0,
        help="stage 1: frames 0.1-1 s after each onset of the user's smile weigh 1 + this in the "
        "diffusion loss (answering smiles is rare in any window; e.g. 4)",
    )
    p.add_argument(
        "--reaction-windows",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="place this share of the training windows (0-1) just before an onset of the user's "
        "smile, so the avatar's answer falls inside (a rare event in uniformly drawn windows)",
    )
    p.add_argument(
        "--heldout",
        metavar="DIR",
        help="a folder of held-out conversations (*.npz): at every checkpoint log the diffusion loss on "
        "fixed windows of them and the listening probe (log.jsonl, 'heldout'), for early stopping",
    )
    p.add_argument("--heldout-limit", type=int, default=12, help="held-out conversations used (default 12)")
    p.add_argument(
        "--channel-weight",
        action="append",
        default=[],
        metavar="CHANNEL=W",
        help="weight of one ARKit channel in the diffusion loss (default 1), e.g. MouthSmileLeft=4; "
        "repeatable",
    )
    p.add_argument(
        "--viseme-frame-weight",
        action="append",
        default=[],
        metavar="VISEME=W",
        help="stage 1: on the avatar's frames with that viseme, the mouth channels weigh W in the "
        "diffusion loss (default 1), e.g. PP=6 for the p/b/m closures; needs phone labels (a corpus "
        "folder or a pack of format /2); repeatable",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="also stop after this many minutes of training; the cosine LR decays by time then",
    )
    p.add_argument(
        "--generator-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a generator setting: any for a new model (e.g. user_skip=true); with --init only "
        "those that keep its weights (e.g. cond_context_frames=25)",
    )
    p.add_argument(
        "--augment",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="feature augmentation drawn afresh for every training window (models/training/augment.py): "
        "warp=0.12 (vocal-tract warp, +-12%%), telephone=0.3 (share of windows band-limited), "
        "band_masks=2 and band_mask_width=5 (frequency masks), contrast=0.2; repeatable",
    )
    p.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up")
    p.add_argument("--lr-decay", choices=["constant", "cosine"], default="constant")
    p.add_argument(
        "--ema", type=float, default=0.0, help="EMA decay of the saved weights (e.g. 0.999; 0: off)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from models.bundle import AvatarForcingModel, default_card
    from models.training.data import (
        WindowSampler,
        corpora_files,
        fit_stats,
        load_examples,
        smile_onset_focus,
    )
    from models.training.trainer import TrainConfig, describe_corpus, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.stage == "dpo" and not args.init:
        raise SystemExit(
            "--stage dpo needs --init: the stage-1 checkpoint (it is also the frozen DPO reference)"
        )
    try:
        files = corpora_files(args.corpus)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"--corpus: {e}") from None
    if args.init:
        model = AvatarForcingModel.load(args.init)
        if model.generator.articulation is not None:
            from models.training.articulation import without_head

            model = without_head(model)
            print(
                f"{args.init}: its articulation head reads the audio encoder this run trains; it is left "
                "out (give the result a new one with `avatar-forcing articulation`)"
            )
        if args.generator_set:
            model = _reconfigured(model, args.generator_set)
    else:
        model = None
    front_end = model.card.front_end if model else default_card().front_end
    examples = load_examples(files, front_end, progress=True)
    if model is None:
        stats = fit_stats(examples)
        torch.manual_seed(args.seed)
        rest = tuple(float(x) for x in stats.mean)
        card = default_card(stats).replace(rest_pose=rest)
        if args.generator_set:
            card = _changed_card(card, args.generator_set)
        model = AvatarForcingModel(card)
    config = TrainConfig(
        stage=args.stage,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr if args.lr is not None else (3e-4 if args.stage == "df" else 3e-5),
        window=args.window,
        cond_chunk=args.cond_chunk,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        dpo_weight=args.dpo_weight,
        dpo_beta=args.dpo_beta,
        loser_nfe=args.loser_nfe,
        df_norm=args.df_loss,
        lip_weight=args.lip_weight if args.stage == "df" else 0.0,
        viseme_weight=args.viseme_weight if args.stage == "df" else 0.0,
        reaction_weight=args.reaction_weight if args.stage == "df" else 0.0,
        reaction_windows=args.reaction_windows,
        channel_weights=_channel_weights(args.channel_weight),
        viseme_frame_weights=_viseme_frame_weights(args.viseme_frame_weight) if args.stage == "df" else {},
        warmup=args.warmup,
        lr_decay=args.lr_decay,
        ema=args.ema,
        max_seconds=60.0 * args.max_minutes,
        augment=_augment(args.augment),
    )
    focus = smile_onset_focus(examples, config.reaction_windows) if config.reaction_windows > 0 else None
    sampler = WindowSampler(examples, model.card.stats, config.window, config.burn_in, focus)
    provenance = {
        "command": "avatar-forcing " + shlex.join(getattr(args, "argv", None) or sys.argv[1:]),
        "corpus": {**describe_corpus(files, examples), "sources": list(args.corpus)},
    }
    check = _heldout_check(args, model, config) if args.heldout else None
    path = train(
        model, sampler, config, args.out, device=args.device, provenance=provenance, on_checkpoint=check
    )
    print(f"model written to {path}")
    return 0


def _changed_card(card: Any, items: list[str]) -> Any:
    """The card with `--generator-set KEY=VALUE` changes applied (SystemExit on bad ones)."""
    from .options import key_values

    try:
        return card.replace(generator=card.generator.replace(**key_values(items, "--generator-set")))
    except ValueError as e:  # ConfigError included
        raise SystemExit(f"--generator-set: {e}") from None


def _reconfigured(model: Any, items: list[str]) -> Any:
    """The --init model under changed generator settings that keep its weights (e.g.
    cond_context_frames, the dropouts) or only add weights that start at zero and so leave its
    behaviour as it was (cross_position_bias); a change that reshapes or drops weights, or adds
    non-zero ones, is refused."""
    from models.bundle import AvatarForcingModel

    new = AvatarForcingModel(_changed_card(model.card, items))
    initial = new.state_dict()  # the new layout's freshly initialised weights
    try:
        missing, unexpected = new.load_state_dict(model.state_dict(), strict=False)
    except RuntimeError as e:  # a reshaped weight
        problem = str(e).splitlines()[0]
    else:
        nonzero = [k for k in missing if bool(initial[k].any())]
        problem = (
            f"weights it has no place for {unexpected[:3]}"
            if unexpected
            else f"new weights that do not start at zero {nonzero[:3]}"
            if nonzero
            else ""
        )
        if not problem and missing:
            log.info("--generator-set: %d new zero-initialised weights (%s, ...)", len(missing), missing[0])
    if problem:
        raise SystemExit(
            f"--generator-set {' '.join(items)} changes the layout of the --init model's weights, "
            f"so it needs a new model (leave out --init): {problem}"
        )
    return new.eval()


def _named_weights(
    option: str, items: list[str], resolve: Callable[[str], str], metavar: str
) -> dict[str, float]:
    """`option NAME=W` items as {resolve(NAME): W}; SystemExit naming the bad item. `resolve`
    raises KeyError with a message listing the valid names."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not weight >= 0:
            raise SystemExit(f"{option} wants {metavar} with a number W >= 0; got {item!r}")
        try:
            out[resolve(name)] = weight
        except KeyError as e:
            raise SystemExit(f"{option} {item!r}: {e.args[0]}") from None
    return out


def _channel_weights(items: list[str]) -> dict[str, float]:
    """`--channel-weight NAME=W` options as {canonical ARKit name: weight} (SystemExit on bad ones)."""
    from models.motion.arkit import canonical_name

    return _named_weights("--channel-weight", items, canonical_name, "CHANNEL=W (an ARKit channel)")


def _augment(items: list[str]) -> dict[str, float]:
    """`--augment KEY=VALUE` options as AugmentConfig keys (SystemExit on bad ones)."""
    from models.training.augment import AugmentConfig

    from .options import key_values

    try:
        return AugmentConfig.from_dict(key_values(items, "--augment")).to_dict() if items else {}
    except ValueError as e:  # ConfigError included
        raise SystemExit(f"--augment: {e}") from None


def _viseme(name: str) -> str:
    from models.corpus.phones import VISEMES

    if name not in VISEMES:
        raise KeyError(f"unknown viseme {name!r}; valid: {', '.join(VISEMES)}")
    return name


def _heldout_check(args: argparse.Namespace, model: Any, config: Any) -> Any:
    """The `--heldout DIR` check (SystemExit when DIR holds no conversations)."""
    from pathlib import Path

    from models.training.validation import HeldoutCheck

    folder = Path(args.heldout)
    files = sorted(folder.glob("*.npz"))[: max(1, args.heldout_limit)] if folder.is_dir() else []
    if not files:
        raise SystemExit(
            f"--heldout {folder}: not a folder of conversations (*.npz); a feature pack will not do"
        )
    return HeldoutCheck(
        model, files, config.window, config.burn_in, norm=config.df_norm, chunk=config.cond_chunk
    )


def _viseme_frame_weights(items: list[str]) -> dict[str, float]:
    """`--viseme-frame-weight VISEME=W` options as {viseme: weight} (SystemExit on bad ones)."""
    return _named_weights("--viseme-frame-weight", items, _viseme, "VISEME=W (a viseme)")
