"""`avatar-forcing evaluate`: score models on held-out conversations; Markdown + JSON + plots."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate models on held-out conversations (lip sync, reactiveness, richness, FD)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus", required=True, help="held-out conversations (a folder made by `avatar-forcing corpus`)"
    )
    p.add_argument("--model", action="append", help="checkpoint(s) to compare (default: the bundled model)")
    p.add_argument("--label", action="append", help="a column label per --model")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--limit", type=int, default=None, help="use the first N conversations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="sampling seeds --seed, --seed+1, ...: the conversation metrics are averaged over them "
        "(the probes use --seed)",
    )
    p.add_argument(
        "--sampler",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a sampler setting of every model, e.g. context_timestep=100 or u_cfg_scale=2",
    )


def run(args: argparse.Namespace) -> int:
    from models.bundle import DEFAULT_MODEL_PATH, AvatarForcingModel
    from models.evaluation.conditions import average_conditions
    from models.evaluation.listening import listening_probe
    from models.evaluation.report import (
        average_seeds,
        cold_starts,
        lip_auc_by_condition,
        probes,
        run_model,
        summarize,
        write_report,
    )
    from models.training.data import corpus_files

    paths = args.model or [str(DEFAULT_MODEL_PATH)]
    labels = args.label or [
        Path(p).parent.name if Path(p).name == "model.pt" else Path(p).stem for p in paths
    ]
    if len(labels) != len(paths):
        raise SystemExit(f"{len(labels)} --label for {len(paths)} --model: give one label per model")
    if args.seeds < 1:
        raise SystemExit(f"--seeds must be at least 1 (got {args.seeds})")
    files = corpus_files(args.corpus)[: args.limit]
    columns, examples = {}, {}
    conditions: dict[str, dict[str, dict[str, float]]] = {}
    scored = []
    from models.generator.config import ConfigError, SamplerConfig

    from .options import key_values

    try:
        overrides = key_values(args.sampler, "--sampler")
    except ValueError as e:
        raise SystemExit(str(e)) from None
    for label, path in zip(labels, paths, strict=True):
        model = AvatarForcingModel.load(path)
        try:
            sampler = SamplerConfig.from_dict({**model.card.sampler.to_dict(), **overrides})
        except (ConfigError, TypeError) as e:
            raise SystemExit(f"--sampler: {e}") from None
        runs, by_condition = [], []
        for seed in range(args.seed, args.seed + args.seeds):
            scored = run_model(model, files, sampler, seed=seed, label=f"{label} seed {seed}")
            runs.append(summarize(scored, "generated"))
            by_condition.append(lip_auc_by_condition(scored, "generated"))
            if seed == args.seed:
                examples[label] = scored[0]
        conditions[label] = average_conditions(by_condition)
        listening = listening_probe(model, files, seed=args.seed)
        columns[label] = {
            **average_seeds(runs),
            **probes(model, files[0], seed=args.seed, sampler=sampler),
            **cold_starts(model, files[:3], sampler, args.seed),
            "listening_smile_gain": listening["listening_smile_gain"],
            "listening_onsets": listening["listening_onsets"],
        }
    columns["ground truth"] = {
        **summarize(scored, "truth"),
        # the data's own answer over the same frames: what a listening model's gain approaches
        "cold_start_openness_ratio": 1.0,  # the data over itself
        "noisy_start_openness_ratio": 1.0,
        "listening_smile_gain": listening["listening_truth_rise"],
        "listening_onsets": listening["listening_onsets"],
    }
    conditions["ground truth"] = lip_auc_by_condition(scored, "truth")
    report = write_report(
        args.out,
        columns,
        examples,
        info={
            "conversations": len(files),
            "corpus": str(args.corpus),
            "models": dict(zip(labels, paths, strict=True)),
            "seed": args.seed,
            "seeds": args.seeds,
            "sampler_overrides": overrides,
        },
        conditions=conditions,
    )
    print(report.read_text())
    return 0
