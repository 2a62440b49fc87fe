"""A deliberately plain streaming loop of the official algorithm: benchmark baseline and test oracle.

`ReferenceSampler` is NOT for production. It exists for two reasons only:

1. as the baseline of `models.generator.benchmark` (how fast the released loop runs, so that the
   speed-up of `StreamingSampler` is measured, not claimed), and
2. as an independent oracle in the tests: it shares no streaming bookkeeping with
   `StreamingSampler` (no `GeneratorCache`, no window-relative positions, no batched branches,
   no key/value-only pass), so agreement between the two checks that bookkeeping.

It does, for every block, what the release does, the straightforward way:
- every evaluation re-encodes the conditions through the Dual Motion Encoder and recomputes the
  cross-attention keys/values (nothing is hoisted out of the timestep loop);
- the three guidance branches (all null / avatar audio only / user audio + user motion only) are
  three separate forward calls at batch B, each with its own caches;
- every timestep of linspace(1000, 0, nfe - 1) is evaluated, including the final t = 0 one
  (which changes nothing), and then a separate full forward at timestep 0 refreshes the caches;
- the self-attention cache is a plain list of per-layer tensors holding keys already rotated by
  RoPE at their ABSOLUTE frame positions (the first 2-s call is positions 0..49, a later block
  starting at frame s is positions s-2..s+9), as the release keeps it. Its forward pass is written
  here, on the model's own layers, so that positions stay absolute.

Only the "official" schedule is implemented (a 2-s first call, then blocks of the model's
block_frames with context_frames re-fed clean frames).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .conditions import Conditions
from .config import SamplerConfig
from .layers import apply_rope, modulate, rope_angles
from .masks import alignment_mask, block_causal_lookahead_mask
from .schedule import flow_update, sampling_timesteps, sigma_for_timestep
from .transformer import MotionGenerator

log = logging.getLogger(__name__)

KV = tuple[torch.Tensor, torch.Tensor]


def _layer_norm(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


class ReferenceSampler:
    """The official streaming sampler written the plain way (see the module docstring).

    Same API as `StreamingSampler`: reset(ref_motion), then step(cond, noise, generator) with
    `next_block_frames` frames each call (50 for the first, then 10 with the paper geometry).
    """

    def __init__(self, model: MotionGenerator, config: SamplerConfig | None = None) -> None:
        self.model = model
        self.config = config or SamplerConfig(schedule="official")
        if self.config.schedule != "official":
            raise ValueError("ReferenceSampler implements the official schedule only")
        g = model.config
        if self.config.block_frames not in (None, g.block_frames):
            raise ValueError(f"the official schedule uses the model's block of {g.block_frames} frames")
        if self.config.u_cfg_speech not in (None, self.config.u_cfg_scale):
            raise ValueError(
                "ReferenceSampler has one user guidance scale (the official one): leave u_cfg_speech unset"
            )
        if self.config.a_cfg_speech not in (None, self.config.a_cfg_scale):
            raise ValueError(
                "ReferenceSampler has one audio guidance scale (the official one): leave a_cfg_speech unset"
            )
        if self.config.articulation:
            raise ValueError(
                "ReferenceSampler is the release's loop (no articulation head): set articulation to 0"
            )
        if self.config.cond_lookahead not in (None, g.cond_window):
            raise ValueError(
                "ReferenceSampler reads the official condition window: leave cond_lookahead unset"
            )
        self.timesteps = sampling_timesteps(self.config.nfe, g.num_train_timesteps)
        sig = [sigma_for_timestep(t, g.num_train_timesteps) for t in self.timesteps]
        self.sigmas = [*sig, 0.0]
        self.window = g.window_frames
        self.block = g.block_frames
        if g.condition_context != g.context_frames:
            raise ValueError(
                "the reference sampler is the release's loop: it encodes conditions with the "
                f"{g.context_frames} context frames only (this model asks for cond_context_frames="
                f"{g.cond_context_frames}); use StreamingSampler"
            )
        self.context = g.context_frames
        # Frames of self-attention history the release keeps: window - block - context (38).
        self.keep_self = g.window_frames - g.block_frames - g.context_frames
        self.ref: torch.Tensor | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.frames_done = 0
        # Per guidance branch, per layer: rotated keys (B, H, S, Dh) and values of past frames.
        self.self_k: list[list[torch.Tensor]] = []
        self.self_v: list[list[torch.Tensor]] = []
        # Per guidance branch, per layer: cross-attention keys/values of the cached condition frames.
        self.cond_k: list[list[torch.Tensor]] = []
        self.cond_v: list[list[torch.Tensor]] = []
        self.context_x: torch.Tensor | None = None  # (B, c, D) last clean frames
        self.context_cond: Conditions | None = None  # their raw condition features

    # --- API ----------------------------------------------------------------------------------
    def reset(self, ref_motion: torch.Tensor) -> None:
        g = self.model.config
        if ref_motion.dim() != 2 or ref_motion.shape[1] != g.dim_motion:
            raise ValueError(f"ref_motion must be (B, {g.dim_motion}); got {tuple(ref_motion.shape)}")
        p = next(self.model.parameters())
        self.ref = ref_motion.to(device=p.device, dtype=p.dtype)
        self._reset_state()

    @property
    def next_block_frames(self) -> int:
        return self.window if self.frames_done == 0 else self.block

    @property
    def num_branches(self) -> int:
        return 3 if self.config.guidance else 1

    @torch.inference_mode()
    def step(
        self,
        cond: Conditions,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if self.ref is None:
            raise RuntimeError("call reset(ref_motion) before step()")
        g = self.model.config
        ref = self.ref
        b, n = cond.batch, cond.frames
        if n != self.next_block_frames:
            raise ValueError(f"the reference sampler takes exactly {self.next_block_frames} frames; got {n}")
        if b != ref.shape[0]:
            raise ValueError(f"conditions have batch {b}, the stream was reset with {ref.shape[0]}")
        cond = Conditions(*(x.to(ref) for x in (cond.avatar_audio, cond.user_audio, cond.user_motion)))
        if noise is None:
            noise = torch.randn(b, n, g.dim_motion, generator=generator, device=ref.device, dtype=ref.dtype)
        noise = noise.to(ref)

        first = self.frames_done == 0
        if first:
            x = noise
            cond_in = cond
            c = 0
            start_pos = 0
            self_mask = block_causal_lookahead_mask(n, g.block_frames, g.lookahead_frames, ref.device)
            cross_mask = alignment_mask(n, n, g.cond_window, device=ref.device)
        else:
            assert self.context_x is not None and self.context_cond is not None
            x = torch.cat([self.context_x, noise], dim=1)
            cond_in = Conditions.cat([self.context_cond, cond])
            c = self.context
            start_pos = self.frames_done - c  # absolute position of the first input frame
            n_in = c + n
            # The last n_in rows of the full window mask: cached frames precede the input.
            self_mask = block_causal_lookahead_mask(
                self.window, g.block_frames, g.lookahead_frames, ref.device
            )[-n_in:]
            k_cached = self.cond_k[0][0].shape[2]
            cross_mask = alignment_mask(n_in, k_cached + n_in, g.cond_window, k_cached, ref.device)
        n_in = x.shape[1]
        positions = torch.arange(start_pos, start_pos + n_in, device=ref.device)

        def per_frame(value: float) -> torch.Tensor:
            out = torch.full((b, n_in), value, device=ref.device, dtype=ref.dtype)
            out[:, :c] = 0.0  # context frames are clean
            return out

        for i, t in enumerate(self.timesteps):
            velocities = []
            for br in range(self.num_branches):
                branch_cond = self._branch(cond_in, br)
                v, _, _ = self._forward(x, per_frame(t), branch_cond, br, positions, self_mask, cross_mask)
                velocities.append(v)
            v = self._combine(velocities)
            x = flow_update(x, v, per_frame(self.sigmas[i])[0], per_frame(self.sigmas[i + 1])[0])

        # Separate cache refresh: a full forward on the clean frames at timestep 0, per branch.
        new_self: list[list[KV]] = []
        new_cross: list[list[KV]] = []
        for br in range(self.num_branches):
            branch_cond = self._branch(cond_in, br)
            _, s_kv, c_kv = self._forward(
                x, per_frame(0.0), branch_cond, br, positions, self_mask, cross_mask
            )
            new_self.append(s_kv)
            new_cross.append(c_kv)
        self._update_caches(x, cond_in, new_self, new_cross, first)
        self.frames_done += n
        return x[:, c:]

    # --- internals ----------------------------------------------------------------------------
    def _branch(self, cond: Conditions, branch: int) -> Conditions:
        """Condition features of one guidance branch; "null" means zero features."""
        if self.num_branches == 1:
            return cond
        z = Conditions(*(torch.zeros_like(x) for x in (cond.avatar_audio, cond.user_audio, cond.user_motion)))
        if branch == 0:
            return z
        if branch == 1:
            return Conditions(cond.avatar_audio, z.user_audio, z.user_motion)
        return Conditions(z.avatar_audio, cond.user_audio, cond.user_motion)

    def _combine(self, v: list[torch.Tensor]) -> torch.Tensor:
        if len(v) == 1:
            return v[0]
        v0, va, vu = v
        return v0 + self.config.a_cfg_scale * (va - v0) + self.config.u_cfg_scale * (vu - v0)

    def _forward(
        self,
        x: torch.Tensor,  # (B, N, D)
        t: torch.Tensor,  # (B, N)
        cond: Conditions,  # (B, N, .) raw features of this branch
        branch: int,
        positions: torch.Tensor,  # (N,) absolute frame positions of the input
        self_mask: torch.Tensor,  # (N, S + N)
        cross_mask: torch.Tensor,  # (N, K + N)
    ) -> tuple[torch.Tensor, list[KV], list[KV]]:
        """One plain forward; returns velocity, the new frames' rotated self keys/values, and the
        cross keys/values of cached + new condition frames (per layer)."""
        model = self.model
        g = model.config
        # Conditions are re-encoded on every call, as the release does.
        tokens = model.encode_conditions(cond)
        cross_new = model.cross_kv(tokens)
        n = x.shape[1]
        assert self.ref is not None
        h = model.input_proj(torch.cat([x, self.ref[:, None, :].expand(-1, n, -1)], dim=-1))
        temb = F.silu(model.time_embed(t))
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = model.adaln(temb).chunk(6, dim=-1)
        cos, sin = rope_angles(positions, g.head_dim, g.rope_theta)
        self_out: list[KV] = []
        cross_out: list[KV] = []
        for li, blk in enumerate(model.blocks):
            # Self-attention, RoPE at absolute positions; the cache holds rotated keys.
            a = modulate(_layer_norm(h), shift_msa, scale_msa)
            q, k, v = blk.self_attn.qkv(a).unflatten(-1, (3, g.heads, -1)).permute(2, 0, 3, 1, 4)
            q = apply_rope(q, cos, sin)
            k = apply_rope(k, cos, sin)
            self_out.append((k, v))
            if self.self_k:
                k = torch.cat([self.self_k[branch][li], k], dim=2)
                v = torch.cat([self.self_v[branch][li], v], dim=2)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self_mask)
            h = h + gate_msa * blk.self_attn.out(y.transpose(1, 2).flatten(2))
            # Cross-attention to cached + new condition frames.
            ck, cv = cross_new[li]
            if self.cond_k:
                ck = torch.cat([self.cond_k[branch][li], ck], dim=2)
                cv = torch.cat([self.cond_v[branch][li], cv], dim=2)
            cross_out.append((ck, cv))
            qc = blk.cross_attn.q(_layer_norm(h)).unflatten(-1, (g.heads, -1)).transpose(1, 2)
            cross_bias = blk.cross_attn.attention_mask(cross_mask)  # the mask, or with position bias
            yc = F.scaled_dot_product_attention(qc, ck, cv, attn_mask=cross_bias)
            h = h + blk.cross_attn.out(yc.transpose(1, 2).flatten(2))
            # MLP.
            h = h + gate_mlp * blk.mlp(modulate(_layer_norm(h), shift_mlp, scale_mlp))
        shift, scale = model.final_adaln(temb).chunk(2, dim=-1)
        vel = model.final_out(modulate(_layer_norm(h), shift, scale))
        return vel, self_out, cross_out

    def _update_caches(
        self,
        clean: torch.Tensor,
        cond_in: Conditions,
        new_self: list[list[KV]],
        new_cross: list[list[KV]],
        first: bool,
    ) -> None:
        """Roll the caches as the release does.

        First call (frames 0..49): self cache = frames 10..47, condition cache = frames 46, 47.
        Block at s (input s-2..s+9): self cache drops its oldest 10 frames and appends s-2..s+7;
        condition cache = frames s+6, s+7. The last `context` clean frames are re-fed next time.
        """
        c = self.context
        n_in = clean.shape[1]
        stop = n_in - c  # frames re-fed as context next time are not cached
        cw = self.model.config.cond_window
        self_k, self_v, cond_k, cond_v = [], [], [], []
        for br in range(self.num_branches):
            ks, vs, cks, cvs = [], [], [], []
            for li, ((k, v), (ck, cv)) in enumerate(zip(new_self[br], new_cross[br], strict=True)):
                k, v = k[:, :, :stop], v[:, :, :stop]
                if not first:
                    k = torch.cat([self.self_k[br][li], k], dim=2)
                    v = torch.cat([self.self_v[br][li], v], dim=2)
                ks.append(k[:, :, -self.keep_self :])
                vs.append(v[:, :, -self.keep_self :])
                total = ck.shape[2]
                cks.append(ck[:, :, total - c - cw : total - c])
                cvs.append(cv[:, :, total - c - cw : total - c])
            self_k.append(ks)
            self_v.append(vs)
            cond_k.append(cks)
            cond_v.append(cvs)
        self.self_k, self.self_v, self.cond_k, self.cond_v = self_k, self_v, cond_k, cond_v
        self.context_x = clean[:, n_in - c :]
        self.context_cond = cond_in.slice(n_in - c, n_in)

    def nbytes(self) -> int:
        """Bytes held by the cache tensors."""
        total = 0
        for group in (self.self_k, self.self_v, self.cond_k, self.cond_v):
            for layers in group:
                total += sum(x.numel() * x.element_size() for x in layers)
        return total
