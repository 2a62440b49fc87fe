"""Shared test helpers."""

from __future__ import annotations

import numpy as np
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


def speech(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A loud voiced-sounding signal (harmonics with a syllable envelope), float32 mono."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.25 * x * env + noise).astype(np.float32)


def with_articulation_head(model: AvatarForcingModel, classes: int = 16, seed: int = 0) -> AvatarForcingModel:
    """`model` with a random articulation head (random class poses) and every other weight kept."""
    torch.manual_seed(seed)
    card = model.card.replace(generator=model.card.generator.replace(articulation_classes=classes))
    out = AvatarForcingModel(card)
    missing, unexpected = out.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("generator.articulation.") for k in missing)
    head = out.generator.articulation
    assert head is not None
    with torch.no_grad():
        head.poses.normal_(0, 1)
    return out.eval()
