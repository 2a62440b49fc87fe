"""Held-out checks at every checkpoint: the diffusion loss on fixed held-out windows (for early
stopping: continued training can drift livelier than the data while the training loss still
falls) and the teacher-forced listening probe (`models.evaluation.listening`).

`train --heldout DIR` builds one `HeldoutCheck` and the trainer calls it after each checkpoint;
the figures go to log.jsonl (`{"step": ..., "heldout": {...}}`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.bundle import AvatarForcingModel
from models.evaluation.listening import listening_probe
from models.training.data import WindowSampler, load_examples
from models.training.losses import diffusion_forcing_loss, draw_noise


class HeldoutCheck:
    """Fixed held-out windows and noise (the same at every checkpoint, so figures compare)."""

    def __init__(
        self,
        model: AvatarForcingModel,
        files: Sequence[Path],
        window: int,
        burn_in: int,
        windows: int = 64,
        norm: str = "l2",
        chunk: int | None = None,
        seed: int = 0,
    ) -> None:
        if not files:
            raise ValueError("the held-out check needs conversation files")
        self.files = list(files)
        examples = load_examples(self.files, model.card.front_end)  # two directions per file
        self.avatar_sides = examples[0::2]
        sampler = WindowSampler(examples, model.card.stats, window, burn_in)
        self.batch = sampler.sample(windows, np.random.default_rng(seed))
        g = torch.Generator().manual_seed(seed)
        self.draw = draw_noise(self.batch.avatar_motion, model.card.generator, g)
        self.norm = norm
        self.chunk = chunk or model.card.sampler.block_frames or model.card.generator.block_frames
        self.seed = seed

    @torch.no_grad()
    def __call__(self, model: AvatarForcingModel) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            p = next(model.parameters())
            batch = self.batch.to(p.device)
            draw = type(self.draw)(self.draw.noise.to(p.device), self.draw.timesteps.to(p.device))
            cond = model.conditions(batch.avatar_feats, batch.user_feats, batch.user_motion, batch.burn_in)
            loss, _ = diffusion_forcing_loss(
                model.generator,
                batch.avatar_motion,
                cond,
                batch.ref,
                draw=draw,
                dropout=False,
                cond_chunk=self.chunk,
                norm=self.norm,
            )
            out = {"df_loss": float(loss)}
            probed = model if p.device.type == "cpu" else copy.deepcopy(model).cpu()  # CPU tensors
            listening = listening_probe(probed, self.files, seed=self.seed, examples=self.avatar_sides)
            out["listening_smile_gain"] = listening["listening_smile_gain"]
            out["listening_truth_rise"] = listening["listening_truth_rise"]
            return out
        finally:
            model.train(was_training)
