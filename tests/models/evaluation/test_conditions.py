"""Recording conditions of held-out conversations and scores pooled by them (the report's table of
lip sync per condition: test_report.py)."""

import numpy as np
import pytest

from models.evaluation.conditions import average_conditions, pool_by_condition, recording_conditions


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
