from collections.abc import Callable

import pytest
import torch

from models.corpus.phones import VISEMES
from models.motion.arkit import CHANNELS, mouth_channel_indices
from models.training.auxiliary import LipHead, VisemeHead, lip_loss, viseme_loss
from models.training.trainer import TrainConfig, lr_factor, training_progress


def test_mouth_channels_are_the_speech_driven_ones() -> None:
    names = [CHANNELS[i] for i in mouth_channel_indices()]
    assert "JawOpen" in names and "MouthClose" in names and "MouthPressLeft" in names
    assert not any(n.startswith(("Eye", "Brow", "Head")) for n in names)


def _fit(head: torch.nn.Module, loss_of: Callable[[], torch.Tensor], steps: int, lr: float) -> float:
    """Train `head` on one fixed batch; returns the last loss over the first."""
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    first = float(loss_of().detach())
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        opt.step()
    return float(loss.detach()) / first


def test_lip_head_learns_a_mapping() -> None:
    torch.manual_seed(0)
    idx = mouth_channel_indices()
    head = LipHead(32, idx)
    feats = torch.randn(4, 30, 32)  # (B, T, C)
    motion = torch.zeros(4, 30, 58)
    motion[..., idx] = feats[..., : len(idx)].roll(1, dims=1)  # depends on the previous frame
    assert _fit(head, lambda: lip_loss(head, feats, motion), 200, 1e-2) < 0.3


def test_viseme_head_reads_each_frame_alone() -> None:
    torch.manual_seed(0)
    head = VisemeHead(16)
    feats = torch.randn(3, 40, 16)  # (B, T, C)
    labels = feats[..., :3].argmax(-1) * 4  # (B, T): visemes 0, 4, 8 from this frame's features
    logits = head(feats)
    assert logits.shape == (3, 40, len(VISEMES))
    changed = feats.clone()
    changed[:, 20] += 5.0
    same = head(changed)  # one frame's features move that frame's logits only
    assert torch.equal(same[:, :20], logits[:, :20]) and torch.equal(same[:, 21:], logits[:, 21:])
    assert _fit(head, lambda: viseme_loss(head, feats, labels), 150, 5e-2) < 0.3
    assert (head(feats).argmax(-1) == labels).float().mean() > 0.9


def test_lr_factor_warms_up_then_decays() -> None:
    assert lr_factor(0, 0.0, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 0.0, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 0.0, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 1.0, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 0.5, 10, "cosine", 0.1) == pytest.approx(0.55)
    assert lr_factor(70, 0.7, 0, "constant", 0.1) == 1.0


def test_training_progress_by_steps_or_by_time() -> None:
    assert training_progress(55, 100, 0.0, 0.0, 10) == pytest.approx(0.5)
    assert training_progress(5, 100, 0.0, 0.0, 10) == 0.0  # still warming up
    assert training_progress(20, 1000, 30.0, 60.0, 0) == pytest.approx(0.5)  # the clock runs out first
    assert training_progress(900, 1000, 1.0, 60.0, 0) == pytest.approx(0.9)
    assert training_progress(10, 100, 99.0, 60.0, 0) == 1.0


def test_train_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="step")
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)
    with pytest.raises(ValueError, match="df_norm"):
        TrainConfig(df_norm="l3")
