"""Auxiliary lip-reading objectives for the audio encoder (training only).

The diffusion loss reaches the audio encoder only through cross-attention, a weak and noisy
signal for phonetic detail. `LipHead` reads the mouth channels of a speaker's motion straight
from the encoder's features of that speaker's own audio (+-2 frames, the generator's condition
window), so the encoder learns features that separate open vowels from lip closures.
`VisemeHead` classifies each frame's viseme from the corpus's phone timings. The heads are
discarded after training; inference never uses them.
"""

from __future__ import annotations

import torch
from torch import nn

from models.corpus.phones import VISEMES


class LipHead(nn.Module):
    """Mouth channels from audio features: (B, T, dim_cond) -> (B, T, len(channels))."""

    def __init__(self, dim_cond: int, channels: list[int], reach: int = 2) -> None:
        super().__init__()
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long), persistent=False)
        self.conv = nn.Conv1d(dim_cond, dim_cond, 2 * reach + 1, padding=reach)
        self.out = nn.Linear(dim_cond, len(channels))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, M)
        h = torch.nn.functional.gelu(self.conv(feats.transpose(1, 2)).transpose(1, 2))
        return self.out(h)


def lip_loss(head: LipHead, feats: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the head's reading of `feats` (B, T, C) and the mouth channels of the
    normalised `motion` (B, T, D) spoken with that audio."""
    target = motion.index_select(-1, head.channels)  # (B, T, M)
    return (head(feats) - target).abs().mean()


class VisemeHead(nn.Module):
    """Viseme class logits of each frame from that frame's audio features alone:
    (B, T, dim_cond) -> (B, T, len(VISEMES)).

    The labels come from the corpus's phone timings (`models.corpus.phones.frame_visemes`). A
    phonetic target is the same for every speaker, unlike the mouth shapes, whose size varies with
    each persona's articulation; and reading one frame only (no future frames, unlike `LipHead`)
    asks each feature to carry its own frame's phone, as a realtime block's last frames need.
    Training only, like `LipHead`.
    """

    def __init__(self, dim_cond: int, classes: int = len(VISEMES)) -> None:
        super().__init__()
        self.out = nn.Linear(dim_cond, classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, V)
        return self.out(feats)


def viseme_loss(head: VisemeHead, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the head's viseme logits on `feats` (B, T, C) against `labels` (B, T) int64."""
    logits = head(feats)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
