"""Training end to end on a tiny corpus: stage 1, resume, stage 2 (DPO), and two-process DDP."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.bundle import AvatarForcingModel, default_card
from models.corpus.conversation import ProceduralVoice, simulate_conversation
from models.motion.arkit import mouth_channel_indices
from models.training.data import WindowSampler, corpora_files, corpus_files, fit_stats, load_examples
from models.training.trainer import TrainConfig, TrainStep, talking_only_motion, train
from plugin_server.cli import main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(2):
        conv = simulate_conversation(i, ProceduralVoice(120, seed=i), ProceduralVoice(200, seed=9 + i), 6.0)
        conv.save(root / f"conv_{i:05d}.npz")
    return root


def test_examples_and_windows(corpus: Path) -> None:
    examples = load_examples(corpus_files(corpus), default_card().front_end)
    assert len(examples) == 4  # two directions per conversation
    e = examples[0]
    assert e.avatar_feats.shape[0] == e.frames == e.user_motion.shape[0]
    stats = fit_stats(examples)
    batch = WindowSampler(examples, stats, window=20, burn_in=8).sample(3, np.random.default_rng(0))
    assert batch.avatar_feats.shape[:2] == (3, 28) and batch.avatar_motion.shape == (3, 20, 58)
    assert batch.ref.shape == (3, 58)


def train_cli(corpus: Path, out: Path, steps: int, *extra: str) -> int:
    """`avatar-forcing train` on the tiny corpus: batch 2, 20-frame windows, CPU."""
    args = ["--corpus", str(corpus), "--out", str(out), "--steps", str(steps), "--batch-size", "2"]
    return main(["train", *args, "--window", "20", "--device", "cpu", *extra])


def test_stage1_resume_and_stage2(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train_cli(corpus, out, 3, "--checkpoint-every", "2") == 0
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 3 and np.isfinite(lines[-1]["loss"])
    model = AvatarForcingModel.load(out / "model.pt")
    assert model.card.training["stage_df"]["steps_done"] == 3
    assert model.card.training["stage_df"]["command"].startswith("avatar-forcing train --corpus")
    # resume: asking for 5 steps continues from 3
    train_cli(corpus, out, 5, "--checkpoint-every", "2")
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["step"] == 5
    # stage 2 from the stage-1 model
    out2 = tmp_path / "dpo"
    assert train_cli(corpus, out2, 2, "--stage", "dpo", "--init", str(out / "model.pt")) == 0
    rec = json.loads((out2 / "log.jsonl").read_text().splitlines()[-1])
    assert {"dpo_loss", "df_loss", "reward_accuracy"} <= set(rec)
    tuned = AvatarForcingModel.load(out2 / "model.pt")
    assert "stage_dpo" in tuned.card.training and "stage_df" in tuned.card.training
    before = AvatarForcingModel.load(out / "model.pt").state_dict()  # the stage-1 model after resuming
    after = tuned.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("audio_encoder."))  # frozen
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("generator."))


def test_resume_refuses_another_config(corpus: Path, tmp_path: Path) -> None:
    examples = load_examples(corpus_files(corpus), default_card().front_end)
    stats = fit_stats(examples)
    model = AvatarForcingModel(default_card(stats))
    sampler = WindowSampler(examples, stats, 20, 4)
    train(
        model,
        sampler,
        TrainConfig(steps=1, batch_size=1, window=20, burn_in=4),
        tmp_path,
        "cpu",
        progress=False,
    )
    with pytest.raises(ValueError, match="another training config"):
        train(
            model,
            sampler,
            TrainConfig(steps=2, batch_size=2, window=20, burn_in=4),
            tmp_path,
            "cpu",
            progress=False,
        )


def test_talking_only_losers_ignore_the_user(corpus: Path) -> None:
    examples = load_examples(corpus_files(corpus), default_card().front_end)
    stats = fit_stats(examples)
    model = AvatarForcingModel(default_card(stats)).eval()
    with torch.no_grad():
        for p in model.generator.parameters():
            p.normal_(0, 0.05)
    batch = WindowSampler(examples, stats, 20, 4).sample(2, np.random.default_rng(1))
    cond = model.conditions(batch.avatar_feats, batch.user_feats, batch.user_motion, batch.burn_in)
    a = talking_only_motion(model, cond, batch.ref, 4, torch.Generator().manual_seed(0))
    other_user = model.conditions(
        batch.avatar_feats, batch.user_feats.flip(0), -batch.user_motion, batch.burn_in
    )
    b = talking_only_motion(model, other_user, batch.ref, 4, torch.Generator().manual_seed(0))
    assert a.shape == (2, 20, 58) and not a.is_inference()
    assert torch.allclose(a, b)


def test_two_process_ddp_with_gloo(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "plugin_server",
        "train",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--window",
        "20",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = AvatarForcingModel.load(out / "model.pt")
    assert model.card.training["stage_df"]["world_size"] == 2


def test_lip_loss_ema_and_cosine_schedule_train_and_resume(corpus: Path, tmp_path: Path) -> None:
    examples = load_examples(corpus_files(corpus), default_card().front_end)
    stats = fit_stats(examples)
    torch.manual_seed(0)
    model = AvatarForcingModel(default_card(stats))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    sampler = WindowSampler(examples, stats, 20, 4)
    cfg = TrainConfig(
        steps=3, batch_size=2, window=20, burn_in=4, lip_weight=0.5, warmup=1, lr_decay="cosine", ema=0.5
    )
    path = train(model, sampler, cfg, tmp_path, "cpu", progress=False)
    rec = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()][-1]
    assert np.isfinite(rec["lip_loss"]) and np.isfinite(rec["df_loss"])
    saved = AvatarForcingModel.load(path).state_dict()
    live = model.state_dict()
    key = (
        "generator.blocks.0.attn.qkv.weight"
        if "generator.blocks.0.attn.qkv.weight" in live
        else next(k for k in live if k.startswith("generator.") and live[k].is_floating_point())
    )
    # the saved weights are the average: between where training started and where it ended
    assert not torch.equal(saved[key], live[key]) and not torch.equal(saved[key], start[key])
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    assert {"lip_head", "ema"} <= set(state)
    # continuing from this checkpoint keeps the earlier run's provenance
    again = train(AvatarForcingModel.load(path), sampler, cfg, tmp_path / "more", "cpu", progress=False)
    record = AvatarForcingModel.load(again).card.training["stage_df"]
    assert record["continues"]["steps_done"] == 3
    train(model, sampler, TrainConfig(**{**cfg.to_dict(), "steps": 4}), tmp_path, "cpu", progress=False)
    assert json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])["step"] == 4


def test_feature_pack_trains_like_its_corpus(corpus: Path, tmp_path: Path) -> None:
    front = default_card().front_end
    pack = tmp_path / "c.pack.xz"
    assert main(["pack", "--corpus", str(corpus), "--out", str(pack)]) == 0
    direct = load_examples(corpus_files(corpus), front)
    packed = load_examples(corpus_files(pack), front)
    assert [e.name for e in packed] == [e.name for e in direct]
    for a, b in zip(direct, packed, strict=True):
        assert np.abs(a.avatar_feats - b.avatar_feats).max() <= 0.5 / 32 + 1e-6
        assert np.allclose(a.user_motion, b.user_motion, atol=2e-2, rtol=1e-3)
    out = tmp_path / "run"
    args = ["train", "--corpus", str(pack), "--out", str(out), "--steps", "1", "--batch-size", "1"]
    assert main([*args, "--window", "20", "--device", "cpu"]) == 0
    described = AvatarForcingModel.load(out / "model.pt").card.training["stage_df"]["corpus"]
    assert described["conversations"] == 2 and described["files"] == 1  # a pack holds many
    for a, b in zip(direct, packed, strict=True):  # phone labels travel in the pack (format /2)
        assert a.avatar_visemes is not None and np.array_equal(a.avatar_visemes, b.avatar_visemes)
        assert a.user_visemes is not None and np.array_equal(a.user_visemes, b.user_visemes)
    other = dataclasses.replace(front, n_mels=front.n_mels + 8)
    with pytest.raises(ValueError, match="another audio front end"):
        load_examples([pack], other)
    with pytest.raises(SystemExit, match=r"pack\.xz"):
        main(["pack", "--corpus", str(corpus), "--out", str(tmp_path / "c.npz")])


def test_a_time_budget_ends_training_early_with_a_checkpoint(corpus: Path, tmp_path: Path) -> None:
    examples = load_examples(corpus_files(corpus), default_card().front_end)
    stats = fit_stats(examples)
    model = AvatarForcingModel(default_card(stats))
    cfg = TrainConfig(steps=10_000, batch_size=1, window=20, burn_in=4, lr_decay="cosine", max_seconds=0.5)
    path = train(model, WindowSampler(examples, stats, 20, 4), cfg, tmp_path, "cpu", progress=False)
    done = AvatarForcingModel.load(path).card.training["stage_df"]["steps_done"]
    assert 1 <= done < 10_000


def test_generator_set_changes_any_setting_of_a_new_model_and_the_weightless_ones_of_an_init(
    corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "skip"
    args = ["train", "--corpus", str(corpus), "--steps", "1", "--batch-size", "1", "--window", "20"]
    assert main([*args, "--out", str(out), "--generator-set", "user_skip=true", "--device", "cpu"]) == 0
    model = AvatarForcingModel.load(out / "model.pt")
    assert model.card.generator.user_skip and model.generator.cond_encoder.user_skip is not None
    with pytest.raises(SystemExit, match="unknown"):
        main([*args, "--out", str(tmp_path / "bad"), "--generator-set", "no_such_key=1"])
    with pytest.raises(SystemExit, match="--init"):
        main(
            [
                *args,
                "--out",
                str(tmp_path / "x"),
                "--init",
                str(out / "model.pt"),
                "--generator-set",
                "depth=2",
            ]
        )
    # A setting that keeps the weights' layout carries the --init model's weights over.
    wider = tmp_path / "wider"
    init = ["--init", str(out / "model.pt"), "--lr", "0"]
    assert main([*args, "--out", str(wider), *init, "--generator-set", "cond_context_frames=9"]) == 0
    again = AvatarForcingModel.load(wider / "model.pt")
    assert again.card.generator.cond_context_frames == 9
    before = model.state_dict()
    assert all(torch.equal(v, before[k]) for k, v in again.state_dict().items())
    # A setting that only adds weights starting at zero keeps the model's behaviour: allowed.
    biased = tmp_path / "biased"
    assert main([*args, "--out", str(biased), *init, "--generator-set", "cross_position_bias=true"]) == 0
    third = AvatarForcingModel.load(biased / "model.pt").state_dict()
    added = sorted(set(third) - set(before))
    assert added and all("position_bias" in k and not third[k].any() for k in added)
    assert all(torch.equal(third[k], v) for k, v in before.items())


def test_channel_weights_are_named_recorded_and_checked(corpus: Path, tmp_path: Path) -> None:
    args = ["train", "--corpus", str(corpus), "--steps", "1", "--batch-size", "1", "--window", "20"]
    out = tmp_path / "cw"
    assert main([*args, "--out", str(out), "--channel-weight", "mouthSmile_L=4", "--device", "cpu"]) == 0
    card = AvatarForcingModel.load(out / "model.pt").card
    assert card.training["stage_df"]["config"]["channel_weights"] == {"MouthSmileLeft": 4.0}
    with pytest.raises(SystemExit, match="did you mean"):
        main([*args, "--out", str(tmp_path / "bad"), "--channel-weight", "MouthSmileLeftt=4"])
    with pytest.raises(SystemExit, match=">= 0"):
        main([*args, "--out", str(tmp_path / "bad"), "--channel-weight", "MouthSmileLeft=-1"])


def test_heldout_figures_are_logged_at_every_checkpoint(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "h"
    args = ["train", "--corpus", str(corpus), "--steps", "4", "--batch-size", "1", "--window", "20"]
    assert main([*args, "--out", str(out), "--checkpoint-every", "2", "--heldout", str(corpus)]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    held = [r for r in rows if "heldout" in r]
    assert [r["step"] for r in held] == [2, 4]
    assert all(np.isfinite(r["heldout"]["df_loss"]) and r["heldout"]["df_loss"] > 0 for r in held)
    assert "listening_smile_gain" in held[0]["heldout"]
    with pytest.raises(SystemExit, match="not a folder"):
        main([*args, "--out", str(tmp_path / "x"), "--heldout", str(tmp_path / "none")])


def _old_pack(pack: Path, out: Path) -> Path:
    """`pack` rewritten as format /1 (before packs carried phone labels)."""
    import io
    import lzma

    with lzma.open(pack, "rb") as f:
        data = dict(np.load(io.BytesIO(f.read())))
    meta = json.loads(bytes(data["meta"]).decode())
    meta["format"] = "avatar-forcing-pack/1"
    arrays = {k: v for k, v in data.items() if not k.endswith("/visemes")}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with lzma.open(out, "wb") as f:
        f.write(buf.getvalue())
    return out


def test_viseme_loss_trains_from_phone_labels_and_resumes(corpus: Path, tmp_path: Path) -> None:
    front = default_card().front_end
    examples = load_examples(corpus_files(corpus), front)
    stats = fit_stats(examples)
    e = examples[0]
    assert e.avatar_visemes is not None and e.avatar_visemes.shape == (e.frames,)
    assert e.avatar_visemes.max() > 0 and (e.avatar_visemes == 0).any()  # speech and silence
    sampler = WindowSampler(examples, stats, 20, 4)
    batch = sampler.sample(3, np.random.default_rng(0))
    assert batch.avatar_visemes is not None and batch.avatar_visemes.shape == (3, 20)
    assert batch.avatar_visemes.dtype == torch.int64
    torch.manual_seed(0)
    cfg = TrainConfig(steps=2, batch_size=2, window=20, burn_in=4, viseme_weight=0.1)
    path = train(AvatarForcingModel(default_card(stats)), sampler, cfg, tmp_path / "a", "cpu", progress=False)
    rec = json.loads((tmp_path / "a" / "log.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(rec["viseme_loss"]) and rec["viseme_loss"] > 0
    assert "viseme_head" in torch.load(tmp_path / "a" / "train_state.pt", weights_only=True)
    assert AvatarForcingModel.load(path).card.training["stage_df"]["config"]["viseme_weight"] == 0.1
    more = TrainConfig(**{**cfg.to_dict(), "steps": 3})
    train(AvatarForcingModel(default_card(stats)), sampler, more, tmp_path / "a", "cpu", progress=False)
    assert json.loads((tmp_path / "a" / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    # a pack from before phone labels still trains, but not with the viseme loss
    pack = tmp_path / "c.pack.xz"
    assert main(["pack", "--corpus", str(corpus), "--out", str(pack)]) == 0
    old = load_examples([_old_pack(pack, tmp_path / "old.pack.xz")], front)
    assert old[0].avatar_visemes is None
    unlabelled = WindowSampler(old, stats, 20, 4)
    assert unlabelled.sample(2, np.random.default_rng(0)).avatar_visemes is None
    with pytest.raises(ValueError, match="phone labels"):
        train(AvatarForcingModel(default_card(stats)), unlabelled, cfg, tmp_path / "b", "cpu", progress=False)
    with pytest.raises(ValueError, match="viseme_weight"):
        TrainConfig(viseme_weight=-1.0)


def test_viseme_frame_weights_are_recorded_and_need_phone_labels(corpus: Path, tmp_path: Path) -> None:
    args = ["train", "--corpus", str(corpus), "--steps", "1", "--batch-size", "1", "--window", "20"]
    out = tmp_path / "vw"
    assert main([*args, "--out", str(out), "--viseme-frame-weight", "PP=4", "--device", "cpu"]) == 0
    card = AvatarForcingModel.load(out / "model.pt").card
    assert card.training["stage_df"]["config"]["viseme_frame_weights"] == {"PP": 4.0}
    with pytest.raises(SystemExit, match="unknown viseme 'pp'; valid: sil, PP"):
        main([*args, "--out", str(tmp_path / "bad"), "--viseme-frame-weight", "pp=4"])
    for bad in ("PP", "PP=-1", "PP=x"):
        with pytest.raises(SystemExit, match=r"--viseme-frame-weight wants VISEME=W .*>= 0"):
            main([*args, "--out", str(tmp_path / "bad"), "--viseme-frame-weight", bad])
    with pytest.raises(ValueError, match="unknown viseme 'XX'"):
        TrainConfig(viseme_frame_weights={"XX": 1.0})
    # the weights change the loss of a batch with p/b/m frames, and only through those frames
    front = default_card().front_end
    examples = load_examples(corpus_files(corpus), front)
    stats = fit_stats(examples)
    batch = WindowSampler(examples, stats, 50, 4).sample(4, np.random.default_rng(0))
    assert batch.avatar_visemes is not None and (batch.avatar_visemes == 1).any()
    model = AvatarForcingModel(default_card(stats))

    def loss(weights: dict[str, float]) -> float:
        cfg = TrainConfig(window=50, burn_in=4, viseme_frame_weights=weights)
        return float(TrainStep(model, cfg, None)(batch, torch.Generator().manual_seed(3))[0].detach())

    plain = loss({})
    assert loss({"PP": 1.0}) == pytest.approx(plain)
    assert loss({"PP": 20.0}) > plain
    # only the mouth channels of the p/b/m frames are weighed: the head keeps its plain loss
    step = TrainStep(model, TrainConfig(window=50, burn_in=4, viseme_frame_weights={"PP": 6.0}), None)
    w = step._mouth_weights(batch)  # (B, W, D)
    assert w is not None and w.shape == batch.avatar_motion.shape
    mouth = mouth_channel_indices()
    others = [i for i in range(w.shape[-1]) if i not in mouth]
    pp = batch.avatar_visemes == 1
    assert torch.all(w[..., others] == 1.0) and torch.all(w[~pp] == 1.0)
    assert torch.all(w[pp][:, mouth] == 6.0)
    # packs from before phone labels cannot weigh visemes: a clear error, not a silent plain loss
    pack = tmp_path / "c.pack.xz"
    assert main(["pack", "--corpus", str(corpus), "--out", str(pack)]) == 0
    old = load_examples([_old_pack(pack, tmp_path / "old.pack.xz")], front)
    unlabelled = WindowSampler(old, stats, 20, 4).sample(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="viseme_frame_weights need phone labels"):
        TrainStep(model, TrainConfig(window=20, burn_in=4, viseme_frame_weights={"PP": 2.0}), None)(
            unlabelled, torch.Generator().manual_seed(0)
        )


def test_several_corpora_train_together(corpus: Path, tmp_path: Path) -> None:
    """`--corpus` repeats: a pack and a folder in one run; the same corpus twice is refused."""
    front = default_card().front_end
    pack = tmp_path / "c.pack.xz"
    assert main(["pack", "--corpus", str(corpus), "--out", str(pack), "--limit", "1"]) == 0
    files = corpora_files([pack, corpus])
    examples = load_examples(files, front)
    assert len(files) == 1 + len(corpus_files(corpus))
    assert len(examples) == 2 * (1 + len(corpus_files(corpus)))  # each conversation both ways
    with pytest.raises(ValueError, match="more than one of the corpora"):
        corpora_files([corpus, corpus])
    out = tmp_path / "run"
    args = ["train", "--corpus", str(pack), "--corpus", str(corpus), "--out", str(out), "--steps", "1"]
    assert main([*args, "--batch-size", "1", "--window", "20", "--device", "cpu"]) == 0
    record = AvatarForcingModel.load(out / "model.pt").card.training["stage_df"]
    assert record["corpus"]["sources"] == [str(pack), str(corpus)]
    with pytest.raises(SystemExit, match=r"--corpus: .*more than one"):
        main(["train", "--corpus", str(corpus), "--corpus", str(corpus), "--out", str(out)])


def test_feature_augmentation_trains_is_recorded_and_checked(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "aug"
    assert train_cli(corpus, out, 2, "--augment", "warp=0.1", "--augment", "band_masks=2", "--seed", "3") == 0
    recorded = AvatarForcingModel.load(out / "model.pt").card.training["stage_df"]["config"]["augment"]
    assert recorded["warp"] == 0.1 and recorded["band_masks"] == 2 and recorded["telephone"] == 0.0
    # the augmented run differs from the same run without augmentation (same seed, same batches)
    plain = tmp_path / "plain"
    assert train_cli(corpus, plain, 2, "--seed", "3") == 0
    a = AvatarForcingModel.load(out / "model.pt").state_dict()
    b = AvatarForcingModel.load(plain / "model.pt").state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("audio_encoder."))
    for bad, needle in (
        ("warp=2", "warp must be in"),
        ("pitch=0.1", "unknown feature augmentation key"),
        ("warp", "KEY=VALUE"),
    ):
        with pytest.raises(SystemExit, match=needle):
            train_cli(corpus, tmp_path / "bad", 1, "--augment", bad)
