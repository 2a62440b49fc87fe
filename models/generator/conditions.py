"""The three condition streams, guidance branches and condition dropout.

"Null" for a stream means its features are zeros (before the Dual Motion Encoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Conditions:
    """Per-frame condition features, all on the same frame clock."""

    avatar_audio: torch.Tensor  # (B, T, dim_cond)
    user_audio: torch.Tensor  # (B, T, dim_cond)
    user_motion: torch.Tensor  # (B, T, dim_motion)

    def __post_init__(self) -> None:
        shapes = {k: tuple(getattr(self, k).shape) for k in ("avatar_audio", "user_audio", "user_motion")}
        if any(len(s) != 3 for s in shapes.values()):
            raise ValueError(f"condition features must be (B, T, C); got {shapes}")
        bt = {s[:2] for s in shapes.values()}
        if len(bt) != 1:
            raise ValueError(f"condition streams disagree on (B, T): {shapes}")

    @property
    def batch(self) -> int:
        return int(self.avatar_audio.shape[0])

    @property
    def frames(self) -> int:
        return int(self.avatar_audio.shape[1])

    def slice(self, start: int, stop: int) -> Conditions:
        return Conditions(
            self.avatar_audio[:, start:stop], self.user_audio[:, start:stop], self.user_motion[:, start:stop]
        )

    def index(self, frames: torch.Tensor) -> Conditions:
        """Gather frames by index (1-D LongTensor), e.g. clamped indices for replicate padding."""
        return Conditions(
            self.avatar_audio[:, frames], self.user_audio[:, frames], self.user_motion[:, frames]
        )

    @staticmethod
    def cat(parts: list[Conditions], dim: int = 1) -> Conditions:
        return Conditions(
            torch.cat([p.avatar_audio for p in parts], dim),
            torch.cat([p.user_audio for p in parts], dim),
            torch.cat([p.user_motion for p in parts], dim),
        )

    @staticmethod
    def zeros(batch: int, frames: int, dim_cond: int, dim_motion: int, **kw: object) -> Conditions:
        return Conditions(
            torch.zeros(batch, frames, dim_cond, **kw),  # type: ignore[arg-type]
            torch.zeros(batch, frames, dim_cond, **kw),  # type: ignore[arg-type]
            torch.zeros(batch, frames, dim_motion, **kw),  # type: ignore[arg-type]
        )


def guidance_branches(c: Conditions) -> Conditions:
    """Stack the three classifier-free-guidance branches along the batch axis.

    Order (each B rows): all null; avatar audio only; user audio + user motion only.
    Returns a Conditions of batch 3B.
    """
    za, zu, zm = (torch.zeros_like(x) for x in (c.avatar_audio, c.user_audio, c.user_motion))
    return Conditions(
        torch.cat([za, c.avatar_audio, za], 0),
        torch.cat([zu, zu, c.user_audio], 0),
        torch.cat([zm, zm, c.user_motion], 0),
    )


def combine_guidance(
    v: torch.Tensor, a_cfg: float | torch.Tensor, u_cfg: float | torch.Tensor
) -> torch.Tensor:
    """v = v0 + a_cfg (v_avatar - v0) + u_cfg (v_user - v0); v: (3B, T, D) -> (B, T, D).

    a_cfg, u_cfg: one scale each, or one per channel (D,)."""
    v0, va, vu = v.chunk(3, dim=0)
    return v0 + a_cfg * (va - v0) + u_cfg * (vu - v0)


def drop_conditions(c: Conditions, p: float, generator: torch.Generator | None = None) -> Conditions:
    """Training-time dropout: each stream of each sample is zeroed with probability p."""
    b = c.batch

    def keep() -> torch.Tensor:
        r = torch.rand(b, 1, 1, generator=generator, device=c.avatar_audio.device)
        return (r >= p).to(c.avatar_audio.dtype)

    return Conditions(c.avatar_audio * keep(), c.user_audio * keep(), c.user_motion * keep())


def drop_reference(ref: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero the reference motion (B, D) of each sample with probability p."""
    r = torch.rand(ref.shape[0], 1, generator=generator, device=ref.device)
    return ref * (r >= p).to(ref.dtype)
