"""Training an articulation head on a tiny corpus, through the library and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from models.bundle import AvatarForcingModel
from models.corpus.conversation import Conversation, ProceduralVoice, simulate_conversation
from models.corpus.phones import PhoneSegment
from models.evaluation import metrics as M
from models.evaluation import report as R
from models.generator.articulation import variance_matched_poses
from models.motion.io import read_motion
from models.training.articulation import (
    ARTICULATION_CLASSES,
    ArticulationConfig,
    articulation_labels,
    side_frames,
    train_head,
    without_head,
)
from models.training.data import corpus_files, save_pack
from plugin_server.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("art_corpus")
    for i in range(3):
        conv = simulate_conversation(
            i, ProceduralVoice(110 + 40 * i, seed=i), ProceduralVoice(210, seed=7 + i), 8.0
        )
        conv.save(root / f"conv_{i:05d}.npz")
    return root


@pytest.fixture(scope="module")
def bundled() -> AvatarForcingModel:
    return AvatarForcingModel.load()


def test_labels_are_visemes_nonverbal_and_silence() -> None:
    phones = [PhoneSegment("M", 0.0, 0.08), PhoneSegment("AA", 0.08, 0.2)]
    # a vocal event from 0 to 0.4 s: phones, then 0.2 s without any (a laugh's breath)
    labels = articulation_labels(phones, [(0.0, 0.4)], frames=15, fps=25.0)
    names = [ARTICULATION_CLASSES[k] for k in labels]
    assert names[:2] == ["PP", "PP"] and names[2:5] == ["aa"] * 3
    assert names[5:10] == ["nonverbal"] * 5 and names[10:] == ["sil"] * 5


def test_variance_matched_poses_give_targets_the_data_spread() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.randn(400, 3, generator=g) * torch.tensor([2.0, 1.0, 0.5]) + torch.tensor([1.0, 0.0, -1.0])
    targets = 0.5 * (data - data.mean(0)) + 0.3  # half the spread, another mean
    targets[:, 2] = 0.7  # a channel the head never moves
    poses = torch.tensor([[0.3, 0.3, 0.7], [1.3, 0.8, 0.7]])
    out = variance_matched_poses(poses, targets, data)
    # the map is affine per channel: mapped targets match the data on channels 0 and 1
    mapped = variance_matched_poses(targets, targets, data)
    assert torch.allclose(mapped[:, :2], data[:, :2], atol=1e-4)
    assert torch.equal(out[:, 2], poses[:, 2])
    clipped = variance_matched_poses(
        poses, targets, data, low=torch.tensor([-1.0, -1.0, -1.0]), high=torch.ones(3)
    )
    assert float(clipped.max()) <= 1.0 and float(clipped.min()) >= -1.0
    with pytest.raises(ValueError, match="targets and data must be"):
        variance_matched_poses(poses, targets[:, :2], data[:, :2])


def test_trained_head_closes_on_pbm_and_opens_on_vowels(corpus: Path, bundled: AvatarForcingModel) -> None:
    """Trained on the tiny corpus (a few hundred steps), the head's target mouth ranks open
    vowels above p/b/m frames on these conversations; the generator and encoder are unchanged."""
    files = corpus_files(corpus)
    model, record = train_head(bundled, files, ArticulationConfig(steps=300, weight=0.6, validation=0.0))
    head = model.generator.articulation
    assert head is not None and head.classes == len(ARTICULATION_CLASSES)
    assert model.card.sampler.articulation == 0.6
    assert model.card.generator.articulation_classes == len(ARTICULATION_CLASSES)
    assert record["frames"] > 0 and record["validation_accuracy"] is None
    before, after = bundled.state_dict(), model.state_dict()
    for k, v in before.items():
        if not k.startswith("generator.articulation."):  # the bundled model may have a head already
            assert torch.equal(after[k], v), k
    aucs = []
    for f in files:
        conv = Conversation.load(f)
        for side in (conv.avatar, conv.user):
            frames = side_frames(model, side, conv.fps)
            with torch.no_grad():
                target = model.card.stats.denormalize(head.target(frames.tokens[None]))[0].numpy()
            openness = M.mouth_openness(target)
            vowels = R.open_vowel_frames(side.phones, len(openness), conv.fps)
            closures = R._closure_frames(side.phones, len(openness), conv.fps) & ~vowels
            if vowels.any() and closures.any():
                aucs.append(M.roc_auc(openness[vowels], openness[closures]))
    assert len(aucs) >= 3 and np.mean(aucs) > 0.8, aucs


def test_cli_writes_a_self_describing_checkpoint(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "headed.pt"
    args = ["articulation", "--corpus", str(corpus), "--out", str(out), "--steps", "20", "--weight", "0.4"]
    assert main([*args, "--half"]) == 0
    model = AvatarForcingModel.load(out)
    assert model.card.sampler.articulation == 0.4
    record = model.card.training["articulation"]
    assert record["command"].startswith("avatar-forcing articulation --corpus")
    assert record["conversations"] + record["validation_conversations"] == 3
    # animate runs it, the head blending into the mouth
    conv = Conversation.load(corpus_files(corpus)[0])
    wav = tmp_path / "a.wav"
    sf.write(wav, conv.avatar.audio[: 2 * 16000], 16000)
    assert (
        main(["animate", "--avatar-audio", str(wav), "--model", str(out), "--out", str(tmp_path / "m.csv")])
        == 0
    )
    motion, fps = read_motion(tmp_path / "m.csv")
    assert motion.shape == (50, 58) and fps == 25 and np.isfinite(motion).all()


def test_cli_refuses_packs_and_bad_weights(corpus: Path, tmp_path: Path, bundled: AvatarForcingModel) -> None:
    pack = save_pack(corpus_files(corpus)[:1], bundled.card.front_end, tmp_path / "c.pack.xz")
    with pytest.raises(SystemExit, match="feature pack has no audio"):
        main(["articulation", "--corpus", str(pack), "--out", str(tmp_path / "x.pt")])
    with pytest.raises(SystemExit, match="weight must be in"):
        main(["articulation", "--corpus", str(corpus), "--out", str(tmp_path / "x.pt"), "--weight", "2"])


def test_training_the_encoder_leaves_a_stale_head_out(
    corpus: Path, tmp_path: Path, bundled: AvatarForcingModel, capsys: pytest.CaptureFixture[str]
) -> None:
    headed, _ = train_head(bundled, corpus_files(corpus), ArticulationConfig(steps=5, weight=0.5))
    bare = without_head(headed)
    assert bare.generator.articulation is None and bare.card.sampler.articulation == 0.0
    assert bare.card.generator.articulation_classes == 0
    assert without_head(bare) is bare
    init = tmp_path / "headed.pt"
    headed.save(init)
    out = tmp_path / "run"
    args = ["--corpus", str(corpus), "--out", str(out), "--steps", "1", "--batch-size", "2", "--window", "20"]
    assert main(["train", *args, "--device", "cpu", "--init", str(init)]) == 0
    assert "articulation head reads the audio encoder" in capsys.readouterr().out
    trained = AvatarForcingModel.load(out / "model.pt")
    assert trained.generator.articulation is None and trained.card.sampler.articulation == 0.0
