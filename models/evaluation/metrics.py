"""Motion metrics as pure functions over ARKit frames (T, 58) at 25 fps.

Lip sync:      `roc_auc` of mouth openness between open-vowel and p/b/m frames, `silence_closure`.
Reactiveness:  `rpcc` (residual correlation to ground truth), `reaction_delays`, `nod_times`.
Richness:      `sid` (entropy of k-means cluster use), `temporal_variance`.
Distribution:  `frechet_distance` between Gaussian fits of motion windows.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, signal
from scipy.cluster.vq import kmeans2

from models.motion.arkit import INDEX

JAW = INDEX["JawOpen"]
SMILE = (INDEX["MouthSmileLeft"], INDEX["MouthSmileRight"])
PITCH = INDEX["HeadPitch"]
LOWER_DOWN = (INDEX["MouthLowerDownLeft"], INDEX["MouthLowerDownRight"])


def mouth_openness(motion: np.ndarray) -> np.ndarray:
    """(T, 58) -> (T,): jaw opening plus a share of the lower lip's drop."""
    return motion[:, JAW] + 0.5 * motion[:, list(LOWER_DOWN)].mean(axis=1)


def smile(motion: np.ndarray) -> np.ndarray:
    """(T, 58) -> (T,) mean of the two smile shapes."""
    return motion[:, list(SMILE)].mean(axis=1)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.asarray(positive, np.float64).ravel(), np.asarray(negative, np.float64).ravel()
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def silence_closure(openness: np.ndarray, silent: np.ndarray, threshold: float = 0.08) -> float:
    """Fraction of silent frames whose mouth openness is below `threshold` (1.0 = always closed)."""
    s = np.asarray(silent, bool)
    if not s.any():
        return float("nan")
    return float((openness[s] < threshold).mean())


def pcc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sa, sb = a.std(), b.std()
    if sa < 1e-9 or sb < 1e-9:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def rpcc(user: np.ndarray, generated: np.ndarray, ground_truth: np.ndarray) -> float:
    """|PCC(user, generated) - PCC(user, ground truth)| for one channel (lower is better)."""
    return abs(pcc(user, generated) - pcc(user, ground_truth))


def onsets(x: np.ndarray, threshold: float, min_gap: int = 12) -> np.ndarray:
    """Frames where x reaches `threshold` after at least `min_gap` frames below it (or from the start)."""
    above = np.asarray(x) >= threshold
    out = [
        r
        for r in np.flatnonzero(above)
        if (r == 0 or not above[r - 1]) and not above[max(0, r - min_gap) : r].any()
    ]
    return np.asarray(out, int)


def reaction_delays(
    stimulus_onsets: np.ndarray,
    response: np.ndarray,
    fps: int = 25,
    rise: float = 0.08,
    window_s: float = 2.0,
) -> np.ndarray:
    """Seconds from each stimulus onset to the response rising `rise` above its level at onset.

    Stimuli with no response inside `window_s` give NaN.
    """
    out = []
    win = int(window_s * fps)
    for t0 in stimulus_onsets:
        base = float(np.median(response[max(0, t0 - 5) : t0 + 1]))
        seg = response[t0 : t0 + win]
        hit = np.flatnonzero(seg >= base + rise)
        out.append(hit[0] / fps if len(hit) else np.nan)
    return np.asarray(out, np.float64)


def nod_times(pitch_deg: np.ndarray, fps: int = 25, min_depth_deg: float = 1.5) -> np.ndarray:
    """Frames of nods: dips of head pitch (chin down) of at least `min_depth_deg`, 0.16-1.2 s wide."""
    p = np.asarray(pitch_deg, np.float64)
    if len(p) < 8:
        return np.zeros(0, int)
    b, a = signal.butter(2, 0.25 / (fps / 2), "highpass")
    hp = signal.filtfilt(b, a, p) if len(p) > 12 else p - p.mean()
    peaks, _ = signal.find_peaks(-hp, prominence=min_depth_deg, width=(0.08 * fps, 1.2 * fps))
    return peaks


def temporal_variance(motion: np.ndarray) -> float:
    """Mean over channels of the variance over time (motion richness, Var)."""
    return float(np.asarray(motion, np.float64).var(axis=0).mean())


def sid(motion: np.ndarray, k: int = 40, seed: int = 0) -> float:
    """Diversity: entropy (nats) of k-means cluster use over standardised frames (T, D)."""
    x = np.asarray(motion, np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    k = min(k, len(x))
    rng = np.random.default_rng(seed)
    _, labels = kmeans2(x, k, minit="++", seed=rng)
    p = np.bincount(labels, minlength=k) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def motion_windows(motion: np.ndarray, size: int = 25, hop: int = 12) -> np.ndarray:
    """(T, D) -> (N, 2D) window features: mean and std of each channel over `size` frames."""
    rows = [
        np.concatenate([motion[s : s + size].mean(0), motion[s : s + size].std(0)])
        for s in range(0, max(1, len(motion) - size + 1), hop)
    ]
    return np.asarray(rows, np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (N, F) and (M, F)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    s1 = np.atleast_2d(s1) + 1e-6 * np.eye(a.shape[1])
    s2 = np.atleast_2d(s2) + 1e-6 * np.eye(a.shape[1])
    covmean = linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2.0 * covmean))
