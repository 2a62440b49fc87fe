"""Per-channel normalisation statistics, stored inside checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class MotionStats:
    """x_norm = (x - mean) / std, per channel. mean, std: (D,) float32."""

    mean: np.ndarray
    std: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MotionStats):
            return NotImplemented
        return bool(np.array_equal(self.mean, other.mean) and np.array_equal(self.std, other.std))

    def __hash__(self) -> int:
        return hash((self.mean.tobytes(), self.std.tobytes()))

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(
                f"mean and std must be equal 1-D shapes; got {self.mean.shape}, {self.std.shape}"
            )
        if not (self.std > 0).all():
            raise ValueError("std must be positive in every channel")

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def identity(cls, dim: int) -> MotionStats:
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))

    @classmethod
    def fit(cls, frames: np.ndarray, min_std: float = 1e-3) -> MotionStats:
        """Fit on motion frames (N, D)."""
        x = np.asarray(frames, np.float64).reshape(-1, frames.shape[-1])
        return cls(x.mean(0).astype(np.float32), np.maximum(x.std(0), min_std).astype(np.float32))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:  # (..., D)
        return (x - torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)) / torch.as_tensor(
            self.std, dtype=x.dtype, device=x.device
        )

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:  # (..., D)
        return x * torch.as_tensor(self.std, dtype=x.dtype, device=x.device) + torch.as_tensor(
            self.mean, dtype=x.dtype, device=x.device
        )

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MotionStats:
        unknown = sorted(set(d) - {"mean", "std"})
        if unknown:
            raise ValueError(f"unknown motion stats key(s) {unknown}")
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))
