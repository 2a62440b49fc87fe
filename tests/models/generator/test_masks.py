import pytest
import torch

from models.generator.masks import (
    alignment_mask,
    alignment_offsets,
    block_causal_lookahead_mask,
    streaming_self_mask,
    within_block_limit,
)


def test_window_mask_follows_the_rule() -> None:
    m = block_causal_lookahead_mask(50, 10, 2)
    assert m.shape == (50, 50) and m.dtype == torch.bool
    for q in range(50):
        for k in range(50):
            assert bool(m[q, k]) == (k // 10 < q // 10 or k <= q + 2)
    # spot checks: first frame sees 2 ahead; a block's last frame sees 2 frames into the next block
    assert m[0, :3].all() and not m[0, 3:].any()
    assert m[9, 11] and not m[9, 12]
    assert m[47:].all()


def test_zero_lookahead_is_causal() -> None:
    m = block_causal_lookahead_mask(12, 4, 0)
    assert torch.equal(m, torch.ones(12, 12, dtype=torch.bool).tril())


def test_streaming_mask_is_the_tail_of_the_window_mask() -> None:
    full = block_causal_lookahead_mask(50, 10, 2)
    assert torch.equal(streaming_self_mask(38, 12, 2), full[38:])
    # first realtime block on an empty cache
    assert torch.equal(streaming_self_mask(0, 4, 2), block_causal_lookahead_mask(4, 4, 2))


def test_alignment_mask_window_and_offset() -> None:
    a = alignment_mask(50, 50, 2)
    assert torch.equal(a, (torch.arange(50)[None] - torch.arange(50)[:, None]).abs() <= 2)
    # 12 queries (frames s-2..s+9) against 14 keys (frames s-4..s+9)
    s = alignment_mask(12, 14, 2, key_offset=2)
    assert s.shape == (12, 14)
    assert s[0].tolist() == [True] * 5 + [False] * 9  # frame s-2 sees s-4..s
    assert s[-1].tolist() == [False] * 11 + [True] * 3  # frame s+9 sees s+7..s+9 (no future keys)
    assert torch.equal(s, alignment_mask(50, 50, 2)[38:, 36:])


def test_within_block_limit_gives_each_block_what_the_stream_sees() -> None:
    block, lookahead, cond_window, n = 4, 2, 2, 12
    self_mask = within_block_limit(block_causal_lookahead_mask(n, block, lookahead), block)
    cross = within_block_limit(alignment_mask(n, n, cond_window), block)
    for b in range(n // block):
        rows, end = slice(b * block, (b + 1) * block), (b + 1) * block
        # the rows of block b: exactly the streaming masks with b blocks cached, nothing later
        assert torch.equal(self_mask[rows, :end], streaming_self_mask(b * block, block, lookahead))
        assert torch.equal(cross[rows, :end], alignment_mask(block, end, cond_window, key_offset=b * block))
        assert not self_mask[rows, end:].any() and not cross[rows, end:].any()
    # without the limit, the last frames of a block look into the next one
    assert block_causal_lookahead_mask(n, block, lookahead)[3, 5] and not self_mask[3, 5]
    assert torch.equal(within_block_limit(self_mask, block), self_mask)  # idempotent


def test_alignment_offsets_agree_with_the_alignment_mask() -> None:
    # training window: key j is frame j
    assert torch.equal(alignment_offsets(5, 5), torch.arange(5)[None] - torch.arange(5)[:, None])
    # streamed block: 2 cached condition frames before the 6 input frames
    off = alignment_offsets(6, 8)
    assert off[0].tolist() == [-2, -1, 0, 1, 2, 3, 4, 5]
    assert off[5, 7] == 0  # the last query's own frame is the last key
    for n, k, w in ((12, 14, 2), (6, 8, 1), (5, 5, 3)):
        assert torch.equal(alignment_offsets(n, k).abs() <= w, alignment_mask(n, k, w, key_offset=k - n))


def test_alignment_mask_max_ahead_limits_the_later_frames_only() -> None:
    # 2 cached condition frames before 6 queries, window 2
    full = alignment_mask(6, 8, 2, key_offset=2)
    offsets = alignment_offsets(6, 8)
    for ahead in (0, 1):
        m = alignment_mask(6, 8, 2, key_offset=2, max_ahead=ahead)
        assert torch.equal(m, full & (offsets <= ahead))
    assert alignment_mask(6, 8, 2, key_offset=2, max_ahead=0)[0].tolist() == [True] * 3 + [False] * 5
    # at or beyond the window: the window's own mask
    assert torch.equal(alignment_mask(6, 8, 2, key_offset=2, max_ahead=2), full)
    assert torch.equal(alignment_mask(6, 8, 2, key_offset=2, max_ahead=5), full)
    with pytest.raises(ValueError, match="max_ahead"):
        alignment_mask(6, 8, 2, key_offset=2, max_ahead=-1)
