"""Shared helpers for the renderer tests (cartoon, portrait)."""

from __future__ import annotations

import numpy as np

from models.motion.arkit import ARKIT_DIM, INDEX


def frame(**channels: float) -> np.ndarray:
    """An ARKit frame (58,) float32: the named channels (PascalCase, e.g. JawOpen=0.8), the rest 0."""
    out = np.zeros(ARKIT_DIM, np.float32)
    for name, value in channels.items():
        out[INDEX[name]] = value
    return out


Box = tuple[int, int, int, int]


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """(H, W, C) image -> the pixels of box (x0, y0, x1, y1), exclusive ends."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def changed(a: np.ndarray, b: np.ndarray, box: Box | None = None, thresh: int = 24) -> float:
    """Fraction of pixels in ``box`` (whole image if None) whose RGBA differs by more than ``thresh``
    levels in some channel between two (H, W, 4) uint8 images."""
    if box is not None:
        a, b = crop(a, box), crop(b, box)
    if a.size == 0:
        return 0.0
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1)
    return float((diff > thresh).mean())


def alpha_centroid(image: np.ndarray) -> tuple[float, float]:
    """(x, y) centroid of an RGBA image's alpha channel, in pixels."""
    alpha = image[..., 3].astype(np.float64)
    total = alpha.sum()
    if total == 0:
        return float("nan"), float("nan")
    ys, xs = np.indices(alpha.shape)
    return float((xs * alpha).sum() / total), float((ys * alpha).sum() / total)


def iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(mask_a, mask_b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(mask_a, mask_b).sum() / union)
