"""Feature augmentation in training: vocal-tract warp, band limit, band masks, contrast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.audio.features import FrontEndConfig, compute, mel_filterbank
from models.generator.config import ConfigError
from models.training.augment import (
    AugmentConfig,
    augment_batch,
    augment_features,
    augmentation_maps,
    band_centres_hz,
    band_limit_keep,
    band_mask_keep,
    warp_matrix,
)
from models.training.data import Batch
from models.training.trainer import TrainConfig

FE = FrontEndConfig()
M = FE.n_mels


def _features(batch: int = 3, frames: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.empty(batch, frames, FE.feature_dim).uniform_(-2.0, 1.0, generator=g)  # (B, T, F)


def test_band_centres_are_the_filterbank_peaks() -> None:
    fb = mel_filterbank(FE.n_mels, 8192, FE.sample_rate, FE.f_min, FE.f_max)  # fine FFT grid
    peaks = fb.argmax(axis=1) * FE.sample_rate / 8192
    assert np.allclose(band_centres_hz(FE), peaks, atol=FE.sample_rate / 8192)


def test_warp_of_one_is_the_identity() -> None:
    w = warp_matrix(torch.ones(2), FE)  # (2, M, M)
    assert torch.equal(w, torch.eye(M).expand(2, M, M))


@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.1, 1.25])
def test_warp_moves_a_formant_by_its_ratio(alpha: float) -> None:
    """A peak at band k (centre c_k) lands where the band centres cross alpha * c_k."""
    centres = band_centres_hz(FE)
    k = 18
    x = torch.zeros(1, M)
    x[0, k] = 1.0
    y = (x @ warp_matrix(torch.tensor([alpha]), FE)[0].T)[0]  # (M,)
    # the interpolated peak position, in Hz, sits at alpha * c_k
    pos = float((y * torch.arange(M)).sum() / y.sum())
    hz = np.interp(pos, np.arange(M), centres)
    assert hz == pytest.approx(alpha * centres[k], rel=0.03)
    assert (y >= 0).all()


def test_warp_rows_are_convex_combinations() -> None:
    w = warp_matrix(torch.tensor([0.7, 1.0, 1.3]), FE)
    assert torch.allclose(w.sum(dim=2), torch.ones(3, M))
    assert (w >= 0).all()
    assert ((w > 0).sum(dim=2) <= 2).all()  # linear interpolation: at most two neighbours


def test_band_limit_keeps_the_telephone_band() -> None:
    keep = band_limit_keep(torch.tensor([300.0, 0.0]), torch.tensor([3400.0, 1e5]), FE)  # (2, M)
    centres = band_centres_hz(FE)
    assert keep[0].tolist() == [300.0 <= c <= 3400.0 for c in centres]
    assert keep[1].all()


def test_band_masks_remove_their_runs_only() -> None:
    keep = band_mask_keep(torch.tensor([[3, 30], [0, 0]]), torch.tensor([[2, 4], [0, 0]]), M)  # (2, M)
    removed = set(torch.nonzero(~keep[0]).flatten().tolist())
    assert removed == {3, 4, 30, 31, 32, 33}
    assert keep[1].all()  # width 0 masks nothing


def test_off_is_a_no_op() -> None:
    feats = _features()
    assert augment_features(feats, AugmentConfig(), FE, torch.Generator()) is feats


def test_augmentation_keeps_energy_and_bounds_and_changes_the_spectrum() -> None:
    feats = _features()
    cfg = AugmentConfig(warp=0.15, telephone=1.0, band_masks=2, contrast=0.3)
    out = augment_features(feats, cfg, FE, torch.Generator().manual_seed(1))
    assert out.shape == feats.shape
    energy = slice(M, None, M + 1)  # the last value of each sub-frame
    assert torch.equal(out[..., energy], feats[..., energy])
    lo, hi = -FE.spec_floor_db / FE.db_per_unit, FE.spec_ceil_db / FE.db_per_unit
    assert out.min() >= lo and out.max() <= hi
    assert not torch.allclose(out, feats)
    # telephone=1: the bands below 250 Hz and above 3800 Hz always read 0, in every sub-frame
    spec = out.reshape(3, -1, M + 1)[..., :M]  # (B, T*S, M)
    centres = band_centres_hz(FE)
    outside = [i for i, c in enumerate(centres) if c < 250.0 or c > 3800.0]
    assert (spec[..., outside] == 0).all()


def test_each_window_gets_its_own_draw_and_draws_repeat_by_seed() -> None:
    cfg = AugmentConfig(warp=0.2, contrast=0.2)
    a = augmentation_maps(4, cfg, FE, torch.Generator().manual_seed(5), torch.device("cpu"))
    b = augmentation_maps(4, cfg, FE, torch.Generator().manual_seed(5), torch.device("cpu"))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])


def test_augmented_real_speech_features_stay_speech_like() -> None:
    """On the front end's own output, a mild warp keeps the spectral envelope close to the input."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000.0
    audio = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(
        16000
    )
    feats = torch.as_tensor(compute(audio, FE), dtype=torch.float32)[None]  # (1, T, F)
    out = augment_features(feats, AugmentConfig(warp=0.05), FE, torch.Generator().manual_seed(0))
    corr = np.corrcoef(out.flatten().numpy(), feats.flatten().numpy())[0, 1]
    assert 0.8 < corr < 1.0


def test_augment_batch_draws_avatar_and_user_apart() -> None:
    feats = _features(batch=2, frames=10)
    batch = Batch(feats, feats.clone(), torch.zeros(2, 5, 58), torch.zeros(2, 5, 58), torch.zeros(2, 58), 5)
    out = augment_batch(batch, AugmentConfig(warp=0.2), FE, torch.Generator().manual_seed(0))
    assert not torch.allclose(out.avatar_feats, out.user_feats)
    assert out.avatar_motion is batch.avatar_motion and out.burn_in == 5


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"warp": 0.6}, "warp"),
        ({"telephone": 1.5}, "telephone"),
        ({"band_masks": 1.5}, "band_masks"),
        ({"band_mask_width": 0}, "band_mask_width"),
        ({"contrast": -0.1}, "contrast"),
        ({"wrap": 0.1}, "wrap"),
        ({"warp": "strong"}, "warp='strong'"),
    ],
)
def test_bad_settings_name_what_is_wrong(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        AugmentConfig.from_dict(data)


def test_train_config_validates_and_exposes_augmentation() -> None:
    assert TrainConfig(augment={"warp": 0.1, "band_masks": 2}).augmentation == AugmentConfig(
        warp=0.1, band_masks=2
    )
    assert not TrainConfig().augmentation.active
    with pytest.raises(ConfigError, match="unknown feature augmentation key"):
        TrainConfig(augment={"pitch": 0.1})
