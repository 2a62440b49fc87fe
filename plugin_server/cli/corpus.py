"""`avatar-forcing corpus`: simulate two-person conversations for training and evaluation."""

from __future__ import annotations

import argparse

HELP = "generate a corpus of simulated two-person conversations (speech, turn-taking, both faces' motion)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (existing conversations are kept: resumable)")
    p.add_argument("--conversations", type=int, default=100)
    p.add_argument("--duration", type=float, default=60.0, help="seconds per conversation")
    p.add_argument("--seed", type=int, default=0, help="corpus seed; use another one for a held-out set")
    p.add_argument(
        "--engines", default="espeak,flite,asterisk", help="comma list of espeak, flite, asterisk, procedural"
    )
    p.add_argument("--voice-strength", type=float, default=0.6, help="per-speaker pitch/rate variation 0..1")
    p.add_argument("--channel-strength", type=float, default=0.5, help="noise/reverb/telephone 0..1")
    p.add_argument(
        "--telephone-probability",
        type=float,
        default=None,
        help="share of tracks through a telephone line, 0..1 (default: a quarter of --channel-strength)",
    )
    p.add_argument(
        "--bleed-probability",
        type=float,
        default=0.2,
        help="share of tracks with the partner's voice in the mic",
    )
    p.add_argument(
        "--formant-shift",
        type=float,
        default=0.0,
        help="per-speaker vocal-tract change: formants x 1 +/- this at most, pitch kept (0 = off; e.g. 0.15)",
    )
    p.add_argument(
        "--human-prompts",
        choices=["all", "train", "heldout"],
        default="all",
        help="real recordings drawn from: all, or one side of the fixed split by prompt name "
        "(15 %% heldout): "
        "train a model on 'train', test it on 'heldout'",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.add_argument(
        "--strict", action="store_true", help="fail when an engine is unavailable instead of skipping it"
    )


def run(args: argparse.Namespace) -> int:
    from models.corpus.builder import CorpusConfig, build_corpus, engines_available

    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    engines = engines_available(wanted)
    if not engines or (args.strict and len(engines) < len(wanted)):
        missing = sorted(set(wanted) - set(engines))
        hint = "see scripts/install-system-deps.sh and the corpus extra"
        raise SystemExit(f"speech engine(s) unavailable: {missing} ({hint})")
    try:
        config = CorpusConfig(
            conversations=args.conversations,
            duration_s=args.duration,
            seed=args.seed,
            engines=tuple(engines),
            voice_strength=args.voice_strength,
            channel_strength=args.channel_strength,
            bleed_probability=args.bleed_probability,
            telephone_probability=args.telephone_probability,
            formant_shift=args.formant_shift,
            human_prompts=args.human_prompts,
        )
    except ValueError as e:
        raise SystemExit(f"corpus: {e}") from None
    files = build_corpus(args.out, config, workers=args.workers)
    print(f"{len(files)} conversations in {args.out} (engines: {', '.join(engines)})")
    return 0
