import numpy as np
import pytest

from models.evaluation.metrics import (
    frechet_distance,
    motion_windows,
    nod_times,
    onsets,
    pcc,
    reaction_delays,
    roc_auc,
    rpcc,
    sid,
    silence_closure,
    temporal_variance,
)


def test_roc_auc_extremes_and_ties() -> None:
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert roc_auc(np.array([0.0]), np.array([1.0, 2.0])) == 0.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 4000), rng.normal(0, 1, 4000)
    assert roc_auc(a, b) == pytest.approx(0.76, abs=0.02)  # Phi(1/sqrt(2))


def test_silence_closure() -> None:
    openness = np.array([0.0, 0.02, 0.5, 0.3, 0.01])
    silent = np.array([True, True, True, False, False])
    assert silence_closure(openness, silent) == pytest.approx(2 / 3)


def test_pcc_and_rpcc() -> None:
    t = np.linspace(0, 10, 250)
    u = np.sin(t)
    assert pcc(u, 2 * u + 1) == pytest.approx(1.0)
    assert pcc(u, np.zeros_like(u)) == 0.0
    assert rpcc(u, u, -u) == pytest.approx(2.0)


def test_onsets_need_a_quiet_gap() -> None:
    x = np.zeros(100)
    x[10:20] = 1
    x[22:25] = 1  # too close to the first: not a new onset
    x[60:70] = 1
    assert onsets(x, 0.5).tolist() == [10, 60]


def test_reaction_delays() -> None:
    resp = np.zeros(200)
    resp[110:] = 0.5
    d = reaction_delays(np.array([100, 10]), resp, rise=0.1, window_s=1.0)
    assert d[0] == pytest.approx(0.4) and np.isnan(d[1])


def test_nod_detection() -> None:
    fps = 25
    pitch = np.zeros(500)
    for c in (100, 250, 400):
        pitch[c - 6 : c + 7] -= 4 * np.hanning(13)
    assert np.abs(nod_times(pitch, fps) - np.array([100, 250, 400])).max() <= 2
    assert len(nod_times(np.zeros(500), fps)) == 0


def test_richness_and_distance() -> None:
    rng = np.random.default_rng(1)
    still = np.zeros((500, 4)) + rng.normal(0, 1e-4, (500, 4))
    lively = rng.normal(0, 1, (500, 4))
    assert temporal_variance(lively) > 100 * temporal_variance(still)
    assert sid(lively, k=8) > 1.5
    a = motion_windows(rng.normal(0, 1, (2000, 3)))
    b = motion_windows(rng.normal(0, 1, (2000, 3)))
    c = motion_windows(rng.normal(2, 1, (2000, 3)))
    assert frechet_distance(a, b) < 0.1 * frechet_distance(a, c)
