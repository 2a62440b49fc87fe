"""Dual Motion Encoder: fuses user motion, user audio and avatar audio into condition tokens.

Two cascaded unmasked attentions over the window they are given:
  e = embed(user motion);  u = SiLU(LN1(e + Attn1(q=e, kv=user audio)))
  c = SiLU(LN2(a + Attn2(q=a, kv=u)))  with a the avatar-audio feature
  token = Linear(c) -> hidden.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DualMotionEncoder(nn.Module):
    def __init__(
        self, dim_motion: int, dim_cond: int, heads: int, hidden: int, user_skip: bool = False
    ) -> None:
        super().__init__()
        self.user_motion_embed = nn.Sequential(
            nn.Linear(dim_motion, dim_cond),
            nn.LayerNorm(dim_cond),
            nn.SiLU(),
            nn.Linear(dim_cond, dim_cond),
            nn.LayerNorm(dim_cond),
            nn.SiLU(),
        )
        # Well-kept library attention: packed input projection, as the official weights.
        self.user_audio_attn = nn.MultiheadAttention(dim_cond, heads, batch_first=True)
        self.norm_user = nn.LayerNorm(dim_cond)
        self.avatar_attn = nn.MultiheadAttention(dim_cond, heads, batch_first=True)
        self.norm_avatar = nn.LayerNorm(dim_cond)
        self.to_tokens = nn.Linear(dim_cond, hidden)
        # Optional (not in the release): user tokens straight into the condition tokens.
        self.user_skip: nn.Linear | None = nn.Linear(dim_cond, hidden) if user_skip else None

    def forward(
        self,
        avatar_audio: torch.Tensor,  # (B, T, dim_cond)
        user_audio: torch.Tensor,  # (B, T, dim_cond)
        user_motion: torch.Tensor,  # (B, T, dim_motion)
    ) -> torch.Tensor:  # (B, T, hidden)
        e = self.user_motion_embed(user_motion)
        attn_u, _ = self.user_audio_attn(e, user_audio, user_audio, need_weights=False)
        u = F.silu(self.norm_user(e + attn_u))
        attn_a, _ = self.avatar_attn(avatar_audio, u, u, need_weights=False)
        c = F.silu(self.norm_avatar(avatar_audio + attn_a))
        tokens = self.to_tokens(c)  # (B, T, hidden)
        if self.user_skip is not None:
            tokens = tokens + self.user_skip(u)
        return tokens
