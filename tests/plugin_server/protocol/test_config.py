import pytest

from plugin_server.protocol import BlinkConfig, ErrorCode, ProtocolError, SequenceTracker, SessionConfig


def _bad(d: dict) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        SessionConfig.from_dict(d)
    assert info.value.code == ErrorCode.BAD_CONFIG
    return info.value


def test_defaults_and_round_trip() -> None:
    cfg = SessionConfig()
    assert cfg.outputs == ("motion", "audio", "events", "stats") and cfg.naming == "arkit" and cfg.fps == 25
    assert cfg.blink == BlinkConfig(enabled=True, rate=1.0) and cfg.motion_intensity == 1.0
    assert SessionConfig.from_dict(cfg.to_dict()) == cfg
    full = SessionConfig.from_dict(
        {
            "avatar": "kim",
            "model": "small",
            "outputs": ["motion", "frames"],
            "naming": "vrm1",
            "arkit_spelling": "lr",
            "block_frames": 2,
            "nfe": 4,
            "a_cfg": 1.5,
            "u_cfg": 0,
            "u_cfg_speech": 0.5,
            "guidance": False,
            "seed": 3,
            "motion_intensity": 2,
            "blink": {"enabled": False},
            "server_vad": False,
            "vad": "energy",
            "stats_interval_s": 0.5,
        }
    )
    assert full.outputs == ("motion", "frames") and full.u_cfg == 0.0 and full.blink.enabled is False
    assert full.u_cfg_speech == 0.5
    assert full.vad == "energy"
    assert SessionConfig.from_dict(full.to_dict()) == full


def test_unknown_keys_list_the_valid_ones() -> None:
    e = _bad({"fps": 25, "speed": 2})
    assert "speed" in e.message and "motion_intensity" in e.message and "naming" in e.message
    e = _bad({"blink": {"often": True}})
    assert "often" in e.message and "rate" in e.message


@pytest.mark.parametrize(
    "d",
    [
        {"outputs": ["motion", "smell"]},
        {"outputs": ["motion", "motion"]},
        {"outputs": "motion"},
        {"naming": "live2d"},
        {"arkit_spelling": "snake"},
        {"fps": 25.0},
        {"block_frames": 0},
        {"nfe": 2},
        {"a_cfg": "high"},
        {"u_cfg_speech": 25},
        {"u_cfg_speech": "off"},
        {"a_cfg_speech": -11},
        {"articulation": 1.5},
        {"articulation": -0.1},
        {"seed": -1},
        {"motion_intensity": 2.5},
        {"motion_intensity": True},
        {"blink": {"rate": 5}},
        {"blink": 1},
        {"avatar": ""},
        {"stats_interval_s": 0},
        {"vad": "webrtc"},
        {"vad": None},
    ],
)
def test_bad_values(d: dict) -> None:
    _bad(d)


def test_vad_choices_are_listed() -> None:
    assert "'silero', 'energy'" in _bad({"vad": "webrtc"}).message
    with pytest.raises(ProtocolError, match="'silero', 'energy'"):
        SessionConfig(vad="webrtc")  # type: ignore[arg-type]


def test_merged_is_partial_and_blink_merges_key_by_key() -> None:
    cfg = SessionConfig().merged({"blink": {"rate": 2.0}, "naming": "vts"})
    assert cfg.blink == BlinkConfig(True, 2.0) and cfg.naming == "vts"
    cfg2 = cfg.merged({"blink": {"enabled": False}})
    assert cfg2.blink == BlinkConfig(False, 2.0) and cfg2.naming == "vts"
    assert cfg2.changed_keys(cfg) == ["blink"]
    with pytest.raises(ProtocolError):
        cfg.merged({"nope": 1})


def test_sequence_tracker() -> None:
    t = SequenceTracker("avatar")
    t.check(5)  # any start
    t.check(6)
    with pytest.raises(ProtocolError) as gap:
        t.check(9, msg_id=3)
    assert (
        gap.value.code == ErrorCode.SEQUENCE_GAP
        and gap.value.msg_id == 3
        and "2 missing" in gap.value.message
    )
    t.check(10)  # the gap's chunk was taken: the stream goes on from it
    for seq in (10, 4):
        with pytest.raises(ProtocolError) as rep:
            t.check(seq)
        assert rep.value.code == ErrorCode.SEQUENCE_REPEAT
    t.check(11)
    assert (t.gaps, t.repeats) == (1, 2)
    t.reset()
    t.check(0)
