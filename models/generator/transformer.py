"""The causal DFoT motion generator (velocity network).

Per frame: token = Linear(concat(noisy motion, reference motion)); per-frame timestep adaLN-Zero
(one modulation Linear shared by all blocks); each block = RoPE self-attention under the
block-causal look-ahead mask, cross-attention to condition tokens within +-cond_window frames
(plain LayerNorm, ungated), tanh-GELU MLP. Final LayerNorm + adaLN shift/scale + Linear.

`forward` works on any slice of a stream: keys of earlier frames come from a cache (unrotated),
positions are window-relative, so the same code serves training windows, the official 2-s first
call, and streamed blocks of any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .articulation import ArticulationHead
from .conditions import Conditions
from .config import GeneratorConfig
from .dual_motion_encoder import DualMotionEncoder
from .layers import CrossAttention, Mlp, SelfAttention, TimestepEmbedder, modulate, rope_angles
from .masks import alignment_mask, block_causal_lookahead_mask, within_block_limit

KV = tuple[torch.Tensor, torch.Tensor]  # keys, values: (B, H, N, Dh) each


def _norm(x: torch.Tensor) -> torch.Tensor:
    """Block LayerNorm: no affine parameters, eps 1e-6."""
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


class DFoTBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp_ratio: float, position_window: int | None = None) -> None:
        super().__init__()
        self.self_attn = SelfAttention(hidden, heads)
        self.cross_attn = CrossAttention(hidden, heads, position_window)
        self.mlp = Mlp(hidden, mlp_ratio)

    def forward(
        self,
        x: torch.Tensor,  # (B, N, C)
        mod: tuple[torch.Tensor, ...],  # six (B, N, C) chunks
        rope: tuple[torch.Tensor, torch.Tensor],
        self_mask: torch.Tensor,
        past: KV | None,
        cross_kv: KV,
        cross_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, KV]:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod
        h, new_kv = self.self_attn(modulate(_norm(x), shift_msa, scale_msa), rope, self_mask, past)
        x = x + gate_msa * h
        x = x + self.cross_attn(_norm(x), cross_kv, cross_mask)
        x = x + gate_mlp * self.mlp(modulate(_norm(x), shift_mlp, scale_mlp))
        return x, new_kv


@dataclass
class StepOutput:
    velocity: torch.Tensor | None  # (B, N, dim_motion); None when only keys were asked for
    new_kv: list[KV]  # per layer, unrotated keys/values of the input frames, (B, H, N, Dh)


class MotionGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        # Output channels that the avatar's own speech drives (jaw, lips), set by whoever knows the
        # motion space (models.bundle for `arkit`); samplers may guide them apart (u_cfg_speech).
        self.speech_channels: tuple[int, ...] = ()
        self.input_proj = nn.Linear(2 * c.dim_motion, c.hidden)
        self.time_embed = TimestepEmbedder(c.hidden, c.time_freq_dim)
        self.cond_encoder = DualMotionEncoder(
            c.dim_motion,
            c.dim_cond,
            c.cond_heads,
            c.hidden,
            c.user_skip,
            c.rope_theta if c.cond_rope else None,
        )
        self.adaln = nn.Linear(c.hidden, 6 * c.hidden)  # shared by all blocks
        window = c.cond_window if c.cross_position_bias else None
        self.blocks = nn.ModuleList(DFoTBlock(c.hidden, c.heads, c.mlp_ratio, window) for _ in range(c.depth))
        self.final_adaln = nn.Linear(c.hidden, 2 * c.hidden)
        self.final_out = nn.Linear(c.hidden, c.dim_motion)
        self.articulation: ArticulationHead | None = None
        if c.articulation_classes:
            self.articulation = ArticulationHead(
                c.dim_cond, c.articulation_classes, c.dim_motion, c.articulation_hidden
            )
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT-style init: Xavier linears, adaLN-Zero (modulation and output start at zero)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.time_embed.fc1.weight, std=0.02)
        nn.init.normal_(self.time_embed.fc2.weight, std=0.02)
        for lin in (self.adaln, self.final_adaln, self.final_out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    # --- conditions ---------------------------------------------------------------------------
    def encode_conditions(self, cond: Conditions) -> torch.Tensor:
        """Raw condition features -> condition tokens (B, T, hidden), attending over the window."""
        return self.cond_encoder(cond.avatar_audio, cond.user_audio, cond.user_motion)

    def cross_kv(self, tokens: torch.Tensor) -> list[KV]:
        """Condition tokens (B, Nc, hidden) -> per-layer cross-attention keys/values."""
        return [blk.cross_attn.project_kv(tokens) for blk in self.blocks]

    # --- velocity -----------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,  # (B, N, dim_motion) noisy (or clean context) frames
        t: torch.Tensor,  # (B, N) per-frame timesteps on the 0..1000 scale
        ref: torch.Tensor,  # (B, dim_motion) reference motion
        cross_kv: list[KV],  # per layer, (B, H, Nc, Dh)
        cross_mask: torch.Tensor,  # (N, Nc) bool
        self_mask: torch.Tensor,  # (N, S + N) bool
        past: list[KV] | None = None,  # per layer, unrotated (B, H, S, Dh)
        kv_only: bool = False,
    ) -> StepOutput:
        n = x.shape[1]
        s = 0 if past is None else past[0][0].shape[2]
        ref_frames = ref[:, None, :].expand(-1, n, -1)
        h = self.input_proj(torch.cat([x, ref_frames], dim=-1))
        temb = F.silu(self.time_embed(t))
        mod = self.adaln(temb).chunk(6, dim=-1)
        positions = torch.arange(s + n, device=x.device)
        rope = rope_angles(positions, self.config.head_dim, self.config.rope_theta)
        new_kv: list[KV] = []
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            layer_past = None if past is None else past[i]
            if kv_only and i == last:
                # Only the keys/values of the last layer are needed: skip its attention and MLP.
                normed = modulate(_norm(h), mod[0], mod[1])
                new_kv.append(blk.self_attn.project_kv(normed))
                return StepOutput(None, new_kv)
            h, kv = blk(h, mod, rope, self_mask, layer_past, cross_kv[i], cross_mask)
            new_kv.append(kv)
        shift, scale = self.final_adaln(temb).chunk(2, dim=-1)
        v = self.final_out(modulate(_norm(h), shift, scale))
        return StepOutput(v, new_kv)

    def encode_conditions_blockwise(self, cond: Conditions, chunk: int) -> torch.Tensor:
        """Condition tokens (B, T, hidden) computed as a realtime stream of `chunk`-frame blocks does:
        each block's frames are encoded together with the `condition_context` frames before it
        only (the context frames, unless the config asks for more)."""
        ctx, total = self.config.condition_context, cond.frames
        parts = []
        for start in range(0, total, chunk):
            lo = max(0, start - ctx)
            tokens = self.encode_conditions(cond.slice(lo, min(total, start + chunk)))
            parts.append(tokens[:, start - lo :])
        return torch.cat(parts, dim=1)

    def forward_window(
        self,
        x: torch.Tensor,  # (B, T, D)
        t: torch.Tensor,  # (B, T)
        ref: torch.Tensor,  # (B, D)
        cond: Conditions,  # (B, T, .)
        cond_chunk: int | None = None,
    ) -> torch.Tensor:
        """Training layout: one uncached window with per-frame timesteps. Returns v (B, T, D).

        With `cond_chunk`, condition tokens are encoded block by block as the realtime sampler
        sees them (`encode_conditions_blockwise`) instead of over the whole window as the release.
        """
        c = self.config
        n = x.shape[1]
        tokens = (
            self.encode_conditions(cond)
            if cond_chunk is None
            else self.encode_conditions_blockwise(cond, cond_chunk)
        )
        self_mask = block_causal_lookahead_mask(n, c.block_frames, c.lookahead_frames, x.device)
        cross_mask = alignment_mask(n, n, c.cond_window, device=x.device)
        if c.streaming_masks:
            self_mask = within_block_limit(self_mask, c.block_frames)
            cross_mask = within_block_limit(cross_mask, c.block_frames)
        out = self.forward(x, t, ref, self.cross_kv(tokens), cross_mask, self_mask)
        assert out.velocity is not None
        return out.velocity
