"""Attention masks of the causal generator, as pure functions.

Every mask is boolean with True meaning "may attend", shaped (queries, keys).
"""

from __future__ import annotations

import torch


def block_causal_lookahead_mask(
    num_frames: int, block_frames: int, lookahead: int, device: torch.device | None = None
) -> torch.Tensor:
    """Training-window self-attention mask, (T, T).

    Frame q may attend to key k when k lies in an earlier block, or k <= q + lookahead.
    (Earlier blocks lie wholly before q, so this equals k <= q + lookahead; both are kept to
    state the rule as the method defines it.)
    """
    idx = torch.arange(num_frames, device=device)
    q, k = idx[:, None], idx[None, :]
    earlier_block = (k // block_frames) < (q // block_frames)
    return earlier_block | (k <= q + lookahead)


def within_block_limit(mask: torch.Tensor, block_frames: int) -> torch.Tensor:
    """`mask` (T, K) over a training window (query q is frame q, key k is frame k) with every key
    after the end of its query's block removed, (T, K).

    A realtime stream generates one block at a time: when it denoises a block, no later frame
    and no later condition frame exists yet, so the look-ahead of a block's last frames stops
    at the block's end. Training with this limit shows the model what the stream will show it.
    """
    q = torch.arange(mask.shape[0], device=mask.device)[:, None]
    k = torch.arange(mask.shape[1], device=mask.device)[None, :]
    block_end = (q // block_frames + 1) * block_frames  # first frame of the next block
    return mask & (k < block_end)


def streaming_self_mask(
    num_cached: int, num_input: int, lookahead: int, device: torch.device | None = None
) -> torch.Tensor:
    """Self-attention mask for `num_input` new frames after `num_cached` cached ones, (N, S + N).

    Cached frames all precede the input, so each input frame sees all of them; among the input,
    frame q sees k <= q + lookahead. With S = 38, N = 12, lookahead 2 this is exactly the last
    12 rows of the 50-frame training mask.
    """
    q = torch.arange(num_input, device=device)[:, None] + num_cached
    k = torch.arange(num_cached + num_input, device=device)[None, :]
    return k <= q + lookahead


def alignment_mask(
    num_queries: int,
    num_keys: int,
    cond_window: int,
    key_offset: int = 0,
    device: torch.device | None = None,
    max_ahead: int | None = None,
) -> torch.Tensor:
    """Cross-attention mask to condition frames, (Nq, Nk).

    Query i is frame i; key j is frame j - key_offset (key_offset cached condition frames precede
    the first query's frame). Query q sees condition frames with |k - q| <= cond_window, and of
    the later ones at most `max_ahead` (None: cond_window; 0: its own frame and earlier ones).
    """
    offsets = alignment_offsets(num_queries, num_keys, key_offset, device)
    ahead = cond_window if max_ahead is None else min(cond_window, max_ahead)
    if ahead < 0:
        raise ValueError(f"max_ahead must be >= 0 (got {max_ahead})")
    return (offsets >= -cond_window) & (offsets <= ahead)


def alignment_offsets(
    num_queries: int, num_keys: int, key_offset: int | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """Frame offset of each condition key from each query, key frame - query frame, (Nq, Nk) long.

    Key j is frame j - key_offset, as in `alignment_mask`. By default the keys end with the
    queries' own condition frames (key_offset = Nk - Nq), as in every layout the generator runs:
    training windows (Nk = Nq) and streamed blocks (the cached condition frames come first).
    """
    if key_offset is None:
        key_offset = num_keys - num_queries
    q = torch.arange(num_queries, device=device)[:, None] + key_offset
    k = torch.arange(num_keys, device=device)[None, :]
    return k - q
