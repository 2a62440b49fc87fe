"""On-the-fly augmentation of front-end features in training: voices and channels the corpus lacks.

The corpus already varies its audio (pitch, rate, noise, reverb, telephone band) once per
conversation; a model trained for many steps on a fixed corpus still learns the particular voices it
heard (training conversations reach lip AUC 0.94-1.00, held-out ones 0.71-0.94). These transforms
act on the normalised log-mel features of every training window, each window drawn afresh, so the
same conversation is heard through many voices and channels. They work on the spectral part only
(the `n_mels` values of each sub-frame); the energy value, which carries speech/silence, is kept.

- **Vocal-tract warp** (VTLP, Jaitly & Hinton 2013): the spectrum is stretched along frequency by
  a factor `alpha` in `[1 - warp, 1 + warp]`, moving every formant by that ratio: the spectral
  envelope of a shorter (alpha > 1) or longer vocal tract. Band `i` (centre `c_i`) reads the
  features at frequency `c_i / alpha`, interpolated linearly on the mel-band axis. The front end's
  per-band mean subtraction is linear, so warping normalised features equals normalising warped
  ones (up to the clipping).
- **Band limit** (telephone channel): with probability `telephone`, bands centred below a cut-off
  drawn in 250-400 Hz or above one drawn in 3000-3800 Hz read 0, what the normaliser makes of a band
  that holds only stationary noise (its running mean is that noise).
- **Band masks** (SpecAugment frequency masking, Park et al. 2019): `band_masks` runs of up to
  `band_mask_width` neighbouring bands read 0 for the whole window.
- **Contrast**: the spectral part is scaled by a factor in `[1 - contrast, 1 + contrast]`
  (reverberation and noise flatten the spectral modulation; close microphones deepen it).

Every transform is a per-window linear map on the `n_mels` axis, so they compose into one
(B, M, M) matrix applied with one batched matmul.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.audio.features import FrontEndConfig, hz_to_mel, mel_to_hz
from models.generator.config import ConfigError, strict_from_dict
from models.training.data import Batch

TELEPHONE_LOW_HZ = (250.0, 400.0)  # the band limit's lower cut-off is drawn in this range
TELEPHONE_HIGH_HZ = (3000.0, 3800.0)  # ... and its upper one in this


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the feature augmentation (all 0: off)."""

    warp: float = 0.0  # max relative vocal-tract warp: alpha ~ U(1 - warp, 1 + warp)
    telephone: float = 0.0  # probability of a telephone band limit per window
    band_masks: int = 0  # SpecAugment frequency masks per window
    band_mask_width: int = 5  # each mask covers 0..this many neighbouring mel bands
    contrast: float = 0.0  # spectral part scaled by U(1 - contrast, 1 + contrast)

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.warp < 0.5:
            problems.append(f"warp must be in [0, 0.5) (got {self.warp})")
        if not 0.0 <= self.telephone <= 1.0:
            problems.append(f"telephone is a probability in [0, 1] (got {self.telephone})")
        if self.band_masks < 0 or self.band_masks != int(self.band_masks):
            problems.append(f"band_masks must be a whole number >= 0 (got {self.band_masks})")
        if self.band_mask_width < 1 or self.band_mask_width != int(self.band_mask_width):
            problems.append(f"band_mask_width must be a whole number >= 1 (got {self.band_mask_width})")
        if not 0.0 <= self.contrast < 1.0:
            problems.append(f"contrast must be in [0, 1) (got {self.contrast})")
        if problems:
            raise ConfigError("invalid feature augmentation: " + "; ".join(problems))

    @property
    def active(self) -> bool:
        return bool(self.warp or self.telephone or self.band_masks or self.contrast)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Unknown keys are a ConfigError listing the valid ones; counts are made ints."""
        data = dict(data)
        bad = [f"{k}={v!r}" for k, v in data.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        if bad:
            raise ConfigError(f"feature augmentation values must be numbers; got {', '.join(bad)}")
        for key in ("band_masks", "band_mask_width"):
            if key in data and float(data[key]).is_integer():
                data[key] = int(data[key])
        return strict_from_dict(cls, data, "feature augmentation")


def band_centres_hz(front_end: FrontEndConfig) -> np.ndarray:
    """Centre frequency of each mel band of the front end, (M,) Hz (as in `mel_filterbank`)."""
    mels = np.linspace(hz_to_mel(front_end.f_min), hz_to_mel(front_end.f_max), front_end.n_mels + 2)
    return mel_to_hz(mels[1:-1])


def warp_matrix(alpha: torch.Tensor, front_end: FrontEndConfig) -> torch.Tensor:
    """Vocal-tract warp as a linear map on the mel-band axis: (B,) factors -> (B, M, M).

    Row `i` interpolates the input bands at the mel-band position of frequency `c_i / alpha`, so
    with alpha > 1 a formant moves up; positions beyond the first or last band read that band.
    alpha == 1 gives the identity.
    """
    m = front_end.n_mels
    lo = float(hz_to_mel(front_end.f_min))
    step = (float(hz_to_mel(front_end.f_max)) - lo) / (m + 1)
    centres = torch.as_tensor(band_centres_hz(front_end), dtype=torch.float64, device=alpha.device)  # (M,)
    source_hz = centres[None, :] / alpha.to(torch.float64)[:, None]  # (B, M)
    pos = (2595.0 * torch.log10(1.0 + source_hz / 700.0) - lo) / step - 1.0  # (B, M) band index
    pos = pos.clamp(0.0, m - 1.0)
    pos = torch.where((pos - pos.round()).abs() < 1e-9, pos.round(), pos)  # exact at alpha == 1
    left = pos.floor().long().clamp(max=m - 2) if m > 1 else pos.floor().long()
    frac = pos - left
    out = torch.zeros(alpha.shape[0], m, m, dtype=torch.float64, device=alpha.device)
    out.scatter_add_(2, left[..., None], (1.0 - frac)[..., None])
    if m > 1:
        out.scatter_add_(2, (left + 1)[..., None], frac[..., None])
    return out.to(torch.float32)


def band_limit_keep(low_hz: torch.Tensor, high_hz: torch.Tensor, front_end: FrontEndConfig) -> torch.Tensor:
    """Bands a channel passing `low_hz`..`high_hz` keeps: (B,), (B,) -> (B, M) bool."""
    centres = torch.as_tensor(band_centres_hz(front_end), dtype=torch.float32, device=low_hz.device)
    return (centres[None, :] >= low_hz[:, None]) & (centres[None, :] <= high_hz[:, None])


def band_mask_keep(starts: torch.Tensor, widths: torch.Tensor, n_mels: int) -> torch.Tensor:
    """Bands left by frequency masks `[start, start + width)`: (B, K), (B, K) -> (B, M) bool."""
    bands = torch.arange(n_mels, device=starts.device)  # (M,)
    inside = (bands[None, None, :] >= starts[..., None]) & (
        bands[None, None, :] < (starts + widths)[..., None]
    )
    return ~inside.any(dim=1)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


def augmentation_maps(
    batch: int, config: AugmentConfig, front_end: FrontEndConfig, gen: torch.Generator, device: torch.device
) -> torch.Tensor:
    """One random linear map per window on the mel-band axis, all transforms composed: (B, M, M)."""
    m = front_end.n_mels
    maps = torch.eye(m, device=device).expand(batch, m, m)
    if config.warp:
        alpha = _uniform(batch, 1.0 - config.warp, 1.0 + config.warp, gen, device)
        maps = warp_matrix(alpha, front_end)
    keep = torch.ones(batch, m, dtype=torch.bool, device=device)
    if config.telephone:
        limited = torch.rand(batch, generator=gen, device=device) < config.telephone
        low = _uniform(batch, *TELEPHONE_LOW_HZ, gen, device)
        high = _uniform(batch, *TELEPHONE_HIGH_HZ, gen, device)
        keep &= band_limit_keep(low, high, front_end) | ~limited[:, None]
    if config.band_masks:
        k = config.band_masks
        widths = torch.randint(0, config.band_mask_width + 1, (batch, k), generator=gen, device=device)
        starts = (torch.rand(batch, k, generator=gen, device=device) * (m - widths + 1)).floor().long()
        keep &= band_mask_keep(starts, widths, m)
    scale = torch.ones(batch, device=device)
    if config.contrast:
        scale = _uniform(batch, 1.0 - config.contrast, 1.0 + config.contrast, gen, device)
    return maps * (keep.float() * scale[:, None])[..., None]  # rows of removed bands are 0


def augment_features(
    feats: torch.Tensor, config: AugmentConfig, front_end: FrontEndConfig, gen: torch.Generator
) -> torch.Tensor:
    """(B, T, F) front-end features -> (B, T, F), each window through its own random voice and
    channel; the energy values are unchanged and the result stays within the front end's bounds."""
    if not config.active:
        return feats
    b, t, f = feats.shape
    s, v, m = front_end.subframes_per_frame, front_end.values_per_subframe, front_end.n_mels
    if f != s * v:
        raise ValueError(f"features of width {f} do not match the front end's {s} x {v} = {s * v}")
    maps = augmentation_maps(b, config, front_end, gen, feats.device)  # (B, M, M)
    x = feats.reshape(b, t * s, v)  # (B, T*S, M + 1): sub-frame-major layout
    spec = torch.bmm(x[..., :m], maps.transpose(1, 2))  # (B, T*S, M)
    lo = -front_end.spec_floor_db / front_end.db_per_unit
    hi = front_end.spec_ceil_db / front_end.db_per_unit
    out = torch.cat([spec.clamp(lo, hi), x[..., m:]], dim=-1)
    return out.reshape(b, t, f)


def augment_batch(
    batch: Batch, config: AugmentConfig, front_end: FrontEndConfig, gen: torch.Generator
) -> Batch:
    """The batch with the avatar's and the user's features augmented independently (two
    microphones, two voices); motion and labels unchanged."""
    if not config.active:
        return batch
    return dataclasses.replace(
        batch,
        avatar_feats=augment_features(batch.avatar_feats, config, front_end, gen),
        user_feats=augment_features(batch.user_feats, config, front_end, gen),
    )
