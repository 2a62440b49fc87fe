"""Building blocks of the DFoT transformer: timestep embedding, RoPE, attentions, MLP.

Axis order everywhere: (B, T, C) for frame sequences and (B, H, T, Dh) inside attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .masks import alignment_offsets


def timestep_features(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features [cos(t f_i), sin(t f_i)], f_i = exp(-ln(max_period) i / (dim/2)).

    t: (...) on the 0..1000 scale -> (..., dim).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.to(torch.float32)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Per-frame timestep -> hidden vector: sinusoid features, Linear, SiLU, Linear."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = nn.Linear(freq_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, hidden)
        return self.fc2(F.silu(self.fc1(timestep_features(t, self.freq_dim))))


def rope_angles(
    positions: torch.Tensor, head_dim: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for integer positions (N,) -> two (N, head_dim / 2) tensors.

    Positions are window-relative (bounded by the attention window), so precision never degrades
    however long a stream runs.
    """
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    ang = positions.to(torch.float32)[:, None] * inv[None, :]
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (2i, 2i+1) of x (B, H, N, Dh) by the angles of (N, Dh/2) tables."""
    pairs = x.unflatten(-1, (-1, 2))
    x0, x1 = pairs[..., 0], pairs[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1.0 + scale) + shift


class SelfAttention(nn.Module):
    """Multi-head self-attention with RoPE on queries and keys and an external key cache.

    Keys are cached *before* rotation, so a cached frame can be re-rotated at any window-relative
    position; scores depend only on position differences, which makes re-basing exact.
    """

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def project_kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, C) -> unrotated keys and values, each (B, H, N, Dh)."""
        k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1))[:, :, 1:].permute(2, 0, 3, 1, 4)
        return k, v

    def forward(
        self,
        x: torch.Tensor,  # (B, N, C)
        rope: tuple[torch.Tensor, torch.Tensor],  # cos, sin for key positions, (S + N, Dh/2)
        mask: torch.Tensor,  # (N, S + N) bool
        past: tuple[torch.Tensor, torch.Tensor] | None = None,  # (B, H, S, Dh) each
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        new_kv = (k, v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        cos, sin = rope
        n = x.shape[1]  # frames of the input; q.shape[2] would be a constant in a traced (ONNX) graph
        q = apply_rope(q, cos[-n:], sin[-n:])
        k = apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).flatten(2)), new_kv


POSITION_BIAS_GAIN = 20.0  # cross-attention position bias, in logits per unit of its parameter


class CrossAttention(nn.Module):
    """Attention from motion frames to condition tokens (no RoPE; alignment by mask).

    With `position_window` w, each head adds a learned bias for the key's offset from the query
    (-w..w frames, zero-initialised: the layer starts as the release's), so a frame can single out
    its own condition frame; without it (the release) the keys in reach are an unordered set.
    """

    def __init__(self, hidden: int, heads: int, position_window: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)
        # Stored in units of 1 / POSITION_BIAS_GAIN logits: a plain parameter would move by at most
        # about the learning rate per Adam step, far too slowly next to the attention logits (a
        # 1e-4 fine-tune moved it by 0.1 in 1500 steps, always toward the query's own frame).
        self.position_bias = (
            None if position_window is None else nn.Parameter(torch.zeros(heads, 2 * position_window + 1))
        )

    def attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The cross mask (N, Nc) bool as this layer applies it: unchanged, or with the position
        bias the additive float mask (H, N, Nc) (-inf where `mask` is False)."""
        if self.position_bias is None:
            return mask
        w = (self.position_bias.shape[1] - 1) // 2
        offsets = alignment_offsets(mask.shape[0], mask.shape[1], device=mask.device)  # (N, Nc)
        bias = POSITION_BIAS_GAIN * self.position_bias[:, offsets.clamp(-w, w) + w]  # (H, N, Nc)
        return bias.masked_fill(~mask, float("-inf"))

    def project_kv(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition tokens (B, Nc, C) -> keys and values, each (B, H, Nc, Dh)."""
        k, v = self.kv(cond).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor
    ) -> torch.Tensor:
        q = self.q(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
        attn_mask = self.attention_mask(mask)
        if attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(q.dtype)
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).flatten(2))


class Mlp(nn.Module):
    def __init__(self, hidden: int, ratio: float) -> None:
        super().__init__()
        inner = int(hidden * ratio)
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))
