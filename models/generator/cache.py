"""The streaming state of one generator stream: bounded key/value caches and re-fed context."""

from __future__ import annotations

from collections.abc import Sequence
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


def stack_rows(parts: Sequence[torch.Tensor], groups: int = 1) -> torch.Tensor:
    """Stack per-stream tensors (G*B_i, ...) along the batch axis, branch-major: (G*sum B_i, ...).

    Rows of a tensor with G guidance branches are [branch 0 of all rows, branch 1, ...]; the
    stacked tensor keeps that layout over all streams, as the single-stream code expects."""
    if groups == 1:
        return torch.cat(list(parts))
    return torch.cat([x.unflatten(0, (groups, -1)) for x in parts], dim=1).flatten(0, 1)


def split_rows(x: torch.Tensor, rows: Sequence[int], groups: int = 1) -> list[torch.Tensor]:
    """Inverse of `stack_rows`: (G*sum B_i, ...) -> per stream (G*B_i, ...)."""
    if groups == 1:
        return list(x.split(list(rows)))
    return [part.flatten(0, 1) for part in x.unflatten(0, (groups, -1)).split(list(rows), dim=1)]


@dataclass
class GeneratorCache:
    """Everything a stream carries from one block to the next; its size never grows.

    - self_kv: per layer, unrotated self-attention keys/values of the last cached frames,
      (G*B, H, S, Dh) with S <= max_self_frames (G = guidance branches).
    - cross_kv: per layer, cross-attention keys/values of the condition frames just before the
      context, (G*B, H, K, Dh) with K <= cond_window.
    - context: the last clean frames, re-fed (at timestep 0) before the next block, (B, c, D).
    - context_cond: raw condition features of the last frames, (B, h, .): the context frames'
      (h = c), or the last `cond_history_frames` when the model's Dual Motion Encoder looks
      further back (`GeneratorConfig.cond_context_frames`); the context frames' are its last c.
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
    cond_history_frames: int | None = None  # None: context_frames

    @property
    def history_frames(self) -> int:
        """Raw condition frames kept for the next block's condition encoding (at most)."""
        return self.context_frames if self.cond_history_frames is None else self.cond_history_frames

    @property
    def cond_history(self) -> int:
        """Raw condition frames held now (`context_cond`)."""
        return 0 if self.context_cond is None else self.context_cond.frames

    @property
    def cached_frames(self) -> int:
        return 0 if self.self_kv is None else int(self.self_kv[0][0].shape[2])

    @property
    def cached_cond_frames(self) -> int:
        return 0 if self.cross_kv is None else int(self.cross_kv[0][0].shape[2])

    @property
    def num_context(self) -> int:
        return 0 if self.context is None else int(self.context.shape[1])

    @property
    def geometry(self) -> tuple[int, ...]:
        """What must match for two streams' blocks to run stacked: bounds and current fill."""
        return (
            self.max_self_frames,
            self.cond_window,
            self.context_frames,
            self.cached_frames,
            self.cached_cond_frames,
            self.num_context,
            self.history_frames,
            self.cond_history,
        )

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
        cond: Conditions,  # (B, h + n, .) the raw condition features encoded for this block:
        # the held history (its last c frames are the context's), then the new frames
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
        keep_cond = min(cond.frames, max(self.history_frames, c_next))
        self.context_cond = cond.slice(cond.frames - keep_cond, cond.frames)

    # --- batching several streams (models/generator/batched.py) ------------------------------
    @classmethod
    def stack(cls, caches: Sequence[GeneratorCache], branches: int) -> GeneratorCache:
        """One cache holding the rows of several streams of the same geometry, in order.

        Keys/values keep the branch-major layout (`stack_rows`); `frames_done` is the first
        stream's (with equal geometry it decides the same number of context frames for all)."""
        first = caches[0]
        if any(c.geometry != first.geometry for c in caches[1:]):
            raise ValueError(
                f"only caches of the same geometry can be stacked; got {[c.geometry for c in caches]}"
            )

        def kv(lists: list[list[KV] | None]) -> list[KV] | None:
            if any(x is None for x in lists):
                return None  # equal geometry: all are empty
            layers = zip(*[x for x in lists if x is not None], strict=True)
            return [
                (stack_rows([k for k, _ in layer], branches), stack_rows([v for _, v in layer], branches))
                for layer in layers
            ]

        contexts = [c.context for c in caches if c.context is not None]
        conds = [c.context_cond for c in caches if c.context_cond is not None]
        return cls(
            ref=torch.cat([c.ref for c in caches]),  # (sum B_i, D)
            max_self_frames=first.max_self_frames,
            cond_window=first.cond_window,
            context_frames=first.context_frames,
            cond_history_frames=first.cond_history_frames,
            self_kv=kv([c.self_kv for c in caches]),
            cross_kv=kv([c.cross_kv for c in caches]),
            context=torch.cat(contexts) if len(contexts) == len(caches) else None,  # (sum B_i, c, D)
            context_cond=Conditions.cat(conds, dim=0) if len(conds) == len(caches) else None,
            frames_done=first.frames_done,
        )

    def unstack_into(self, caches: Sequence[GeneratorCache], branches: int) -> None:
        """Hand the rows of a cache made by `stack(caches)` back to those caches (after a block:
        each one's clock advances by the frames this one advanced)."""
        rows = [int(c.ref.shape[0]) for c in caches]
        emitted = self.frames_done - caches[0].frames_done

        def kv(kvs: list[KV] | None) -> list[list[KV]] | list[None]:
            if kvs is None:
                return [None] * len(caches)
            per_layer = [
                list(zip(split_rows(k, rows, branches), split_rows(v, rows, branches), strict=True))
                for k, v in kvs
            ]
            return [list(layers) for layers in zip(*per_layer, strict=True)]

        contexts: list[torch.Tensor | None] = [None] * len(caches)
        if self.context is not None:
            contexts = list(self.context.split(rows))
        conds: list[Conditions | None] = [None] * len(caches)
        if self.context_cond is not None:
            cc = self.context_cond
            parts = (x.split(rows) for x in (cc.avatar_audio, cc.user_audio, cc.user_motion))
            conds = [Conditions(a, u, m) for a, u, m in zip(*parts, strict=True)]
        for cache, self_kv, cross_kv, context, cond in zip(
            caches, kv(self.self_kv), kv(self.cross_kv), contexts, conds, strict=True
        ):
            cache.self_kv, cache.cross_kv = self_kv, cross_kv
            cache.context, cache.context_cond = context, cond
            cache.frames_done += emitted
