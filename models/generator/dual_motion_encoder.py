"""Dual Motion Encoder: fuses user motion, user audio and avatar audio into condition tokens.

Two cascaded unmasked attentions over the window they are given:
  e = embed(user motion);  u = SiLU(LN1(e + Attn1(q=e, kv=user audio)))
  c = SiLU(LN2(a + Attn2(q=a, kv=u)))  with a the avatar-audio feature
  token = Linear(c) -> hidden.

With `rope` (not in the release) both attentions rotate queries and keys by their frames'
positions in the window (RoPE, as the generator's self-attention), so a token can tell WHEN in
the window the user did something (an answer a few hundred ms after the user's smile) instead of only
how much of the window it filled. No weights are added: a released layout loads either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import apply_rope, rope_angles


def rotary_attention(
    attn: nn.MultiheadAttention,
    query: torch.Tensor,  # (B, Tq, C)
    kv: torch.Tensor,  # (B, Tk, C)
    theta: float,
) -> torch.Tensor:  # (B, Tq, C)
    """`attn` (its packed projections, unmasked, no dropout) with RoPE on queries and keys; both
    sequences are the same window of frames, positions 0..T-1 (only differences matter)."""
    _, tq, c = query.shape
    h = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3) if attn.in_proj_bias is not None else (None,) * 3

    def heads(x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H, T, C / H)
        return x.unflatten(-1, (h, -1)).transpose(1, 2)

    q, k, v = heads(F.linear(query, w_q, b_q)), heads(F.linear(kv, w_k, b_k)), heads(F.linear(kv, w_v, b_v))
    cos_q, sin_q = rope_angles(torch.arange(tq, device=query.device), c // h, theta)
    cos_k, sin_k = rope_angles(torch.arange(kv.shape[1], device=kv.device), c // h, theta)
    out = F.scaled_dot_product_attention(apply_rope(q, cos_q, sin_q), apply_rope(k, cos_k, sin_k), v)
    return attn.out_proj(out.transpose(1, 2).flatten(2))


class DualMotionEncoder(nn.Module):
    def __init__(
        self,
        dim_motion: int,
        dim_cond: int,
        heads: int,
        hidden: int,
        user_skip: bool = False,
        rope_theta: float | None = None,  # None: position-free attentions (the release)
    ) -> None:
        super().__init__()
        self.rope_theta = rope_theta
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
        if self.rope_theta is None:
            attn_u, _ = self.user_audio_attn(e, user_audio, user_audio, need_weights=False)
        else:
            attn_u = rotary_attention(self.user_audio_attn, e, user_audio, self.rope_theta)
        u = F.silu(self.norm_user(e + attn_u))
        if self.rope_theta is None:
            attn_a, _ = self.avatar_attn(avatar_audio, u, u, need_weights=False)
        else:
            attn_a = rotary_attention(self.avatar_attn, avatar_audio, u, self.rope_theta)
        c = F.silu(self.norm_avatar(avatar_audio + attn_a))
        tokens = self.to_tokens(c)  # (B, T, hidden)
        if self.user_skip is not None:
            tokens = tokens + self.user_skip(u)
        return tokens
