"""Lip-sync scores of the evaluation report (`models.evaluation.report.lip_sync`, per condition)."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.corpus.phones import PhoneSegment
from models.evaluation import metrics as M
from models.evaluation.report import (
    Scored,
    average_seeds,
    frame_mask,
    lip_auc_by_condition,
    lip_sync,
    write_report,
)

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


def _scored(conditions: tuple[str, ...], synced: bool) -> Scored:
    """`_utterance` as one conversation; the generated mouth opens on the vowels (synced) or on
    the closures (not), the truth always on the vowels."""
    phones, utterances, truth = _utterance()
    generated = truth.copy()
    if not synced:
        generated[:, M.JAW] = 0.0
        generated[frame_mask([(p.start, p.end) for p in phones if p.phone == "M"], 75, FPS), M.JAW] = 0.6
    return Scored("c", generated, truth, truth, phones, utterances, [], [], FPS, conditions=conditions)


def test_the_report_shows_where_the_lips_fail(tmp_path: Path) -> None:
    results = [
        _scored(("voice:human", "channel:clean"), synced=True),
        _scored(("voice:espeak", "channel:telephone"), synced=False),
    ]
    generated = lip_auc_by_condition(results, "generated")
    assert generated["channel:clean"]["mean"] == 1.0 and generated["channel:telephone"]["mean"] == 0.0
    assert generated["all"] == {"mean": 0.5, "utterances": 2.0}
    truth = lip_auc_by_condition(results, "truth")
    assert all(v["mean"] == 1.0 for v in truth.values())
    report = write_report(
        tmp_path, {"m": {"lip_auc": 0.5}}, info={}, conditions={"m": generated, "ground truth": truth}
    )
    text = report.read_text()
    assert "## Lip sync by recording condition" in text
    assert "| channel:telephone | 1 | 0.000 | 1.000 |" in text
    assert json.loads((tmp_path / "report.json").read_text())["lip_auc_by_condition"]["m"] == generated
    # conversations without conditions: no table
    only_all = {"m": {"all": generated["all"]}}
    plain = write_report(tmp_path / "plain", {"m": {"lip_auc": 1.0}}, conditions=only_all)
    assert "by recording condition" not in plain.read_text()
