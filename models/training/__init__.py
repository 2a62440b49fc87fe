"""Training of the motion generator: diffusion forcing (stage 1) and DPO (stage 2)."""

from .losses import (
    NoiseDraw,
    diffusion_forcing_loss,
    dpo_loss,
    draw_noise,
    finetune_loss,
    frozen_copy,
)

__all__ = [
    "NoiseDraw",
    "diffusion_forcing_loss",
    "dpo_loss",
    "draw_noise",
    "finetune_loss",
    "frozen_copy",
]
