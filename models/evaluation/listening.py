"""A teacher-forced probe of listening: does the model expect the avatar to answer the user's smile?

Counting answered smiles in generated streams (`report.reactiveness`) needs many events and mixes
two failures: a model that never learned to answer, and one that did but whose sampler seldom
starts the answer. This probe separates them, with far less noise. Around each onset of the user's
smile or laugh while the avatar is silent, the generator gets the avatar's TRUE motion up to
`lead_s` after the onset as its clean history and predicts the next `span_s` from pure noise in one
evaluation (x0 = x_t - sigma v at t = 999: for a model trained with the L2 loss, the expected
motion given the context). It runs twice, with the user's real motion and with the user's motion
frozen at the frame before the onset (no smile, no laugh face; the audio stays). The gain is the
difference of the predicted avatar smile, averaged over onsets and frames: ~0 for a model that
ignores the user's face, about the data's own answer (`truth_rise`) for one that listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.bundle import AvatarForcingModel
from models.corpus.conversation import Conversation
from models.evaluation import metrics as M
from models.training.data import Example, load_examples

VOCAL = ("speech", "backchannel", "laugh")


def listening_probe(
    model: AvatarForcingModel,
    files: Sequence[Path],
    lead_s: float = 0.2,
    span_s: float = 0.8,
    history_s: float = 1.2,
    burn_in: int = 25,
    seed: int = 0,
    examples: Sequence[Example] | None = None,
) -> dict[str, float]:
    """{"listening_smile_gain", "listening_truth_rise", "listening_onsets"} over `files`.
    `examples`: the avatar direction of each file, already loaded (else computed here)."""
    if examples is not None and len(examples) != len(files):
        raise ValueError(f"{len(examples)} examples for {len(files)} files")
    card, g = model.card, model.generator
    fps = card.fps
    lead, span, hist = round(lead_s * fps), round(span_s * fps), round(history_s * fps)
    width = hist + span
    chunk = card.sampler.block_frames or card.generator.block_frames
    stats = card.stats
    gains, rises = [], []
    gen = torch.Generator().manual_seed(seed)
    for i, f in enumerate(files):
        conv = Conversation.load(f)
        # the avatar's direction (person "avatar")
        ex = examples[i] if examples is not None else load_examples([f], card.front_end)[0]
        busy = np.zeros(ex.frames, bool)
        for e in conv.avatar.events:
            if e.kind in VOCAL:
                busy[max(0, int((e.start - 0.5) * fps)) : int((e.end + 0.5) * fps)] = True
        onsets = [
            int(e.start * fps)
            for e in conv.user.events
            if e.kind in ("smile", "laugh")
            and int(e.start * fps) < ex.frames
            and not busy[int(e.start * fps)]
        ]
        rows = [o for o in onsets if o + lead - hist - burn_in >= 0 and o + lead + span <= ex.frames]
        if not rows:
            continue
        batch = []
        for o in rows:
            lo = o + lead - hist
            frozen = ex.user_motion[lo : lo + width].copy()  # (W, D)
            frozen[o - lo :] = ex.user_motion[o - 1]
            batch.append((lo, ex.user_motion[lo : lo + width], frozen))
        af = torch.from_numpy(np.stack([ex.avatar_feats[lo - burn_in : lo + width] for lo, _, _ in batch]))
        uf = torch.from_numpy(np.stack([ex.user_feats[lo - burn_in : lo + width] for lo, _, _ in batch]))
        truth = np.stack([ex.avatar_motion[lo : lo + width] for lo, _, _ in batch])  # (B, W, D)
        x = stats.normalize(torch.from_numpy(truth))
        t = torch.zeros(len(batch), width)
        t[:, hist:] = 999.0
        noise = torch.randn(x.shape, generator=gen)
        x_t = x.clone()
        x_t[:, hist:] = 0.001 * x[:, hist:] + 0.999 * noise[:, hist:]
        ref = model.rest_reference(len(batch))
        smiles = []
        for user in (_stacked(batch, 1, stats), _stacked(batch, 2, stats)):
            with torch.no_grad():
                cond = model.conditions(af, uf, user, burn_in=burn_in)
                v = g.forward_window(x_t, t, ref, cond, chunk)
            x0 = stats.denormalize(x_t - (t / 1000.0)[..., None] * v).numpy()  # (B, W, D)
            smiles.append(np.stack([M.smile(m[hist:]) for m in x0]))  # (B, span)
        gains.extend((smiles[0] - smiles[1]).mean(axis=1).tolist())
        rises.extend(
            [
                float(M.smile(m[hist:]).mean() - M.smile(m[hist - lead - 1 : hist - lead]).mean())
                for m in truth
            ]
        )
    return {
        "listening_smile_gain": float(np.mean(gains)) if gains else float("nan"),
        "listening_truth_rise": float(np.mean(rises)) if rises else float("nan"),
        "listening_onsets": float(len(gains)),
    }


def _stacked(batch: list[tuple[int, np.ndarray, np.ndarray]], key: int, stats: object) -> torch.Tensor:
    """The normalised user motion of every row, (B, W, D); key 1 = real, 2 = frozen."""
    return stats.normalize(torch.from_numpy(np.stack([b[key] for b in batch])))  # type: ignore[attr-defined]
