"""Shared test helpers."""

from __future__ import annotations

import torch

from models.bundle import AvatarForcingModel, default_card


def small_random_model(seed: int = 0) -> AvatarForcingModel:
    """The default architecture with one generator layer and random weights that move visibly."""
    torch.manual_seed(seed)
    card = default_card()
    model = AvatarForcingModel(card.replace(generator=card.generator.replace(depth=1)))
    with torch.no_grad():
        for p in model.generator.parameters():
            p.normal_(0, 0.05)
    return model.eval()
