"""The streaming state of one generator stream: bounded key/value caches and re-fed context."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .conditions import Conditions

KV = tuple[torch.Tensor, torch.Tensor]


def _cat_kv(past: list[KV] | None, new: list[KV], start: int, stop: int, keep: int) -> list[KV]:
    """Append frames [start:stop) of `new` to `past` per layer and keep the last `keep` frames."""
    out: list[KV] = []
    for i, (k, v) in enumerate(new):
        k, v = k[:, :, start:stop], v[:, :, start:stop]
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        out.append((k[:, :, -keep:] if keep else k[:, :, :0], v[:, :, -keep:] if keep else v[:, :, :0]))
    return out


@dataclass
class GeneratorCache:
    """Everything a stream carries from one block to the next; its size never grows.

    - self_kv: per layer, unrotated self-attention keys/values of the last cached frames,
      (G*B, H, S, Dh) with S <= max_self_frames (G = guidance branches).
    - cross_kv: per layer, cross-attention keys/values of the condition frames just before the
      context, (G*B, H, K, Dh) with K <= cond_window.
    - context: the last clean frames, re-fed (at timestep 0) before the next block, (B, c, D).
    - context_cond: raw condition features of those frames, (B, c, .).
    - frames_done: frames emitted so far (the stream's clock, in frames).
    """

    ref: torch.Tensor  # (B, D)
    max_self_frames: int
    cond_window: int
    context_frames: int
    self_kv: list[KV] | None = None
    cross_kv: list[KV] | None = None
    context: torch.Tensor | None = None
    context_cond: Conditions | None = None
    frames_done: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def cached_frames(self) -> int:
        return 0 if self.self_kv is None else int(self.self_kv[0][0].shape[2])

    @property
    def cached_cond_frames(self) -> int:
        return 0 if self.cross_kv is None else int(self.cross_kv[0][0].shape[2])

    @property
    def num_context(self) -> int:
        return 0 if self.context is None else int(self.context.shape[1])

    def nbytes(self) -> int:
        """Bytes held by the cache tensors (for memory checks and stats)."""
        total = 0
        for kvs in (self.self_kv, self.cross_kv):
            for k, v in kvs or []:
                total += k.numel() * k.element_size() + v.numel() * v.element_size()
        if self.context is not None:
            total += self.context.numel() * self.context.element_size()
        if self.context_cond is not None:
            for x in (
                self.context_cond.avatar_audio,
                self.context_cond.user_audio,
                self.context_cond.user_motion,
            ):
                total += x.numel() * x.element_size()
        return total

    def advance(
        self,
        clean: torch.Tensor,  # (B, c + n, D) the clean input frames of this block
        cond: Conditions,  # (B, c + n, .) their raw condition features
        self_new: list[KV],  # per layer (G*B, H, c + n, Dh)
        cross_all: list[KV],  # per layer (G*B, H, K + c + n, Dh)
    ) -> None:
        """Roll the caches forward after a block whose clean frames are final."""
        n_in = clean.shape[1]
        emitted = n_in - self.num_context
        self.frames_done += emitted
        c_next = min(self.context_frames, self.frames_done)
        keep_in = n_in - c_next
        self.self_kv = _cat_kv(self.self_kv, self_new, 0, keep_in, self.max_self_frames)
        total_cond = cross_all[0][0].shape[2]
        self.cross_kv = _cat_kv(None, cross_all, 0, total_cond - c_next, self.cond_window)
        self.context = clean[:, n_in - c_next :]
        self.context_cond = cond.slice(n_in - c_next, n_in)
