"""Articulation head: the mouth pose a frame's own audio calls for, to steer the speech channels.

Not in the paper. The generator draws the jaw and lips from its cross-attention to the avatar's
audio tokens, and on voices it never heard its bilabial closures come out shallow (lip AUC 0.85
on an unseen voice family) although those same tokens tell p/b/m from open vowels far better: a
classifier reading one token alone separates them at 0.94 (models/weights/README.md,
"An articulation head"). The head is that classifier: per frame, a small MLP on the avatar-audio
condition token gives a posterior over articulation classes (for `arkit`, the 15 visemes plus
"nonverbal": laughter and breaths), and the posterior-weighted mean of the classes' poses is the
frame's articulation target. `SamplerConfig.articulation` sets the share of the speech channels
that follows the target (`blend_channels`); the rest of the face is the generator's alone.

The head reads one token per frame and nothing else, so a stream and a whole file give the same
targets, with no state and no added latency. Its poses are per-class means of the training
corpus's normalised motion (`fit_class_poses`), then mapped per channel so that the targets
move as much as the corpus's mouths do (`variance_matched_poses`), stored with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ArticulationHead(nn.Module):
    """Per-frame articulation posterior and target pose from avatar-audio condition tokens."""

    def __init__(
        self, dim_cond: int, classes: int, dim_motion: int, hidden: int = 256, dropout: float = 0.2
    ) -> None:
        super().__init__()
        if classes < 2:
            raise ValueError(f"an articulation head needs at least 2 classes (got {classes})")
        self.net = nn.Sequential(
            nn.Linear(dim_cond, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, classes)
        )
        # (K, D) normalised motion of each class, set by fit_class_poses / the checkpoint
        self.register_buffer("poses", torch.zeros(classes, dim_motion))

    @property
    def classes(self) -> int:
        return int(self.poses.shape[0])

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """`audio` (B, T, dim_cond) avatar-audio tokens -> class logits (B, T, K)."""
        return self.net(audio)

    def target(self, audio: torch.Tensor) -> torch.Tensor:
        """`audio` (B, T, dim_cond) -> the posterior-weighted class pose (B, T, D), normalised."""
        return expected_pose(self(audio), self.poses)


def expected_pose(logits: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
    """Posterior-weighted mean pose: `logits` (B, T, K), `poses` (K, D) -> (B, T, D)."""
    return torch.softmax(logits, dim=-1) @ poses.to(logits.dtype)


def fit_class_poses(motion: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Per-class mean frame: `motion` (N, D), `labels` (N,) int in 0..classes-1 -> (classes, D).

    A class that never occurs gets the mean of all frames (its posterior is then learnt near 0
    anyway, and its pose stays an ordinary frame)."""
    if motion.dim() != 2 or labels.shape != motion.shape[:1]:
        raise ValueError(
            f"motion must be (N, D) and labels (N,); got {tuple(motion.shape)}, {tuple(labels.shape)}"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"labels must lie in 0..{classes - 1}")
    overall = motion.mean(dim=0)
    out = overall.repeat(classes, 1)
    for k in range(classes):
        sel = labels == k
        if bool(sel.any()):
            out[k] = motion[sel].mean(dim=0)
    return out  # (K, D)


def variance_matched_poses(
    poses: torch.Tensor,  # (K, D) per-class mean frames
    targets: torch.Tensor,  # (N, D) the head's expected poses on training frames
    data: torch.Tensor,  # (N, D) the same frames' motion
    low: torch.Tensor | None = None,  # (D,) lowest value a channel may take
    high: torch.Tensor | None = None,  # (D,) highest
) -> torch.Tensor:  # (K, D)
    """Class poses whose posterior-weighted mean has the data's per-channel mean and spread.

    A posterior mean regresses to the middle: where the head is unsure (most frames are between
    two visemes) it averages their poses, and its targets move about half as much as the mouth
    does. The expected pose is linear in the poses (the posterior sums to 1), so the affine map
    `m_data + (s_data / s_target) (pose - m_target)` per channel, applied to every class pose,
    gives targets with the data's mean and standard deviation on these frames; the poses are
    then clipped to `[low, high]` (a blendshape stays in its range). A channel that never moves
    in `targets` keeps its poses."""
    if targets.shape != data.shape or targets.dim() != 2 or targets.shape[1] != poses.shape[1]:
        raise ValueError(
            f"targets and data must be (N, {poses.shape[1]}); got {tuple(targets.shape)}, {tuple(data.shape)}"
        )
    mt, md = targets.mean(0), data.mean(0)
    st, sd = targets.std(0), data.std(0)
    gain = torch.where(st > 1e-6, sd / st.clamp_min(1e-6), torch.ones_like(st))
    shift = torch.where(st > 1e-6, md - gain * mt, torch.zeros_like(mt))
    out = poses * gain + shift
    if low is not None or high is not None:
        out = out.clamp(min=low, max=high)
    return out


def blend_channels(
    x: torch.Tensor,  # (B, T, D)
    target: torch.Tensor,  # (B, T, D)
    weight: float,
    channels: Sequence[int],
) -> torch.Tensor:  # (B, T, D)
    """`x` with `channels` moved `weight` of the way to `target` (0: x, 1: target); the other
    channels are x's."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1] (got {weight})")
    if x.shape != target.shape:
        raise ValueError(f"x and target differ in shape: {tuple(x.shape)} vs {tuple(target.shape)}")
    out = x.clone()
    idx = list(channels)
    out[..., idx] = torch.lerp(x[..., idx], target[..., idx].to(x.dtype), weight)
    return out


__all__ = ["ArticulationHead", "blend_channels", "expected_pose", "fit_class_poses", "variance_matched_poses"]
