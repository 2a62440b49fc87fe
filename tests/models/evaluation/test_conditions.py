"""Recording conditions of held-out conversations and lip sync pooled by them."""

import json

import numpy as np
import pytest

from models.corpus.phones import PhoneSegment
from models.evaluation import metrics as M
from models.evaluation.conditions import average_conditions, pool_by_condition, recording_conditions
from models.evaluation.report import Scored, frame_mask, lip_auc_by_condition, write_report

FPS = 25.0


def test_conditions_name_the_avatar_voice_engine_and_each_channel_effect() -> None:
    meta = {
        "voices": [{"voice": "EspeakVoice:en-gb-x-gbcwmd+iven2"}, {"voice": "FliteVoice:slt"}],
        "channel": {"avatar": ["bleed", "telephone", "noise:pink"], "user": ["reverb"]},
    }
    expected = ("voice:espeak", "channel:bleed", "channel:noise", "channel:telephone")
    assert recording_conditions(meta) == expected
    clean = {"voices": [{"voice": "HumanSpeech"}, {"voice": "HumanSpeech"}], "channel": {"avatar": []}}
    assert recording_conditions(clean) == ("voice:human", "channel:clean")
    assert recording_conditions({"voices": [{"voice": "SomethingNew:x"}]}) == ("voice:SomethingNew",)
    assert recording_conditions({}) == ()  # a user's own recordings say nothing


def test_pooling_counts_every_utterance_under_each_of_its_tags() -> None:
    got = pool_by_condition(
        [
            (("voice:espeak", "channel:clean"), np.array([1.0, 0.8])),
            (("voice:espeak", "channel:telephone"), np.array([0.5])),
            ((), np.array([0.9])),
        ]
    )
    assert list(got) == ["all", "channel:clean", "channel:telephone", "voice:espeak"]
    assert got["all"] == {"mean": pytest.approx(0.8), "utterances": 4.0}
    assert got["voice:espeak"] == {"mean": pytest.approx(2.3 / 3), "utterances": 3.0}
    assert got["channel:telephone"]["mean"] == 0.5
    avg = average_conditions([got, {**got, "all": {"mean": 0.6, "utterances": 4.0}}])
    assert avg["all"]["mean"] == pytest.approx(0.7) and avg["voice:espeak"] == got["voice:espeak"]
    with pytest.raises(ValueError, match="no runs"):
        average_conditions([])


def _scored(name: str, conditions: tuple[str, ...], synced: bool) -> Scored:
    """3 s with one 2-s utterance alternating open vowels and closures; the generated mouth opens
    on the vowels (synced) or on the closures (not), the truth always on the vowels."""
    phones = [PhoneSegment("AA" if i % 2 == 0 else "M", 0.5 + 0.2 * i, 0.7 + 0.2 * i) for i in range(10)]
    truth = np.zeros((75, 58), np.float32)
    truth[frame_mask([(p.start, p.end) for p in phones if p.phone == "AA"], 75, FPS), M.JAW] = 0.6
    generated = truth.copy()
    if not synced:
        generated[:, M.JAW] = 0.0
        generated[frame_mask([(p.start, p.end) for p in phones if p.phone == "M"], 75, FPS), M.JAW] = 0.6
    return Scored(name, generated, truth, truth, phones, [(0.5, 2.5)], [], [], FPS, conditions=conditions)


def test_the_report_shows_where_the_lips_fail(tmp_path) -> None:
    results = [
        _scored("a", ("voice:human", "channel:clean"), synced=True),
        _scored("b", ("voice:espeak", "channel:telephone"), synced=False),
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
