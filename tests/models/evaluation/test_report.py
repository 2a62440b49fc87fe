"""Lip-sync scores of the evaluation report (`models.evaluation.report.lip_sync`)."""

import numpy as np
import pytest

from models.corpus.phones import PhoneSegment
from models.evaluation import metrics as M
from models.evaluation.report import average_seeds, frame_mask, lip_sync

FPS = 25.0


def _utterance() -> tuple[list[PhoneSegment], list[tuple[float, float]], np.ndarray]:
    """A 2-s utterance alternating open vowels (AA) and closures (M), 0.2 s each, in 3 s of motion;
    the mouth opens 0.6 on the vowels and closes on the closures."""
    phones = [PhoneSegment("AA" if i % 2 == 0 else "M", 0.5 + 0.2 * i, 0.7 + 0.2 * i) for i in range(10)]
    motion = np.zeros((75, 58), np.float32)
    motion[frame_mask([(p.start, p.end) for p in phones if p.phone == "AA"], 75, FPS), M.JAW] = 0.6
    return phones, [(0.5, 2.5)], motion


def test_a_mouth_that_barely_opens_keeps_its_auc_but_not_its_vowel_openness() -> None:
    phones, utterances, motion = _utterance()
    full = lip_sync(motion, phones, utterances, FPS)
    assert full["lip_auc"] == 1.0 and full["lip_auc_utterances"] == 1.0
    assert abs(full["vowel_openness_mean"] - 0.6) < 1e-6
    assert full["silence_closed"] == 1.0
    small = lip_sync(0.1 * motion, phones, utterances, FPS)  # the same timing, a tenth as wide
    assert small["lip_auc"] == 1.0  # the ranking cannot see it ...
    assert abs(small["vowel_openness_mean"] - 0.06) < 1e-6  # ... this does


def test_average_seeds_means_each_metric_and_reports_the_lip_spread() -> None:
    runs = [{"lip_auc": 0.8, "var": 0.4, "fd": float("nan")}, {"lip_auc": 0.9, "var": 0.6, "fd": 2.0}]
    got = average_seeds(runs)
    assert got["lip_auc"] == pytest.approx(0.85) and got["var"] == pytest.approx(0.5)
    assert got["fd"] == 2.0  # a metric missing in one run: the mean of the others
    assert got["lip_auc_seed_sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1)) and got["seeds"] == 2
    assert average_seeds(runs[:1])["lip_auc_seed_sd"] == 0.0
    with pytest.raises(ValueError, match="no summaries"):
        average_seeds([])
