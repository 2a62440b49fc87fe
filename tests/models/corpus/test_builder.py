"""Corpus builder: the channel knobs (telephone and bleed shares), the speakers' formant change,
and their validation."""

from pathlib import Path

import numpy as np
import pytest

from models.corpus.builder import CorpusConfig, build_one
from models.corpus.conversation import Conversation
from models.evaluation.report import VOCAL
from plugin_server.cli import main


def _one(tmp_path: Path, name: str, duration_s: float = 4.0, **kw: float) -> tuple[dict, Conversation]:
    config = CorpusConfig(conversations=1, duration_s=duration_s, seed=7, engines=("procedural",), **kw)
    out = tmp_path / name
    out.mkdir()
    entry = build_one(0, config, out)
    return entry, Conversation.load(out / entry["file"])


def test_telephone_probability_sets_the_share_of_telephoned_tracks(tmp_path: Path) -> None:
    every, conv_every = _one(tmp_path, "all", telephone_probability=1.0)
    none, conv_none = _one(tmp_path, "none", telephone_probability=0.0)
    assert all("telephone" in every["channel"][who] for who in ("avatar", "user"))
    assert not any("telephone" in none["channel"][who] for who in ("avatar", "user"))
    # the channel has its own random stream: the plan, the speech and the motion are the same,
    # and so are the effects drawn before the telephone line (bleed, reverb)
    assert np.array_equal(conv_every.avatar.motion, conv_none.avatar.motion)
    for who in ("avatar", "user"):
        before = every["channel"][who][: every["channel"][who].index("telephone")]
        assert before == [e for e in none["channel"][who] if not e.startswith("noise")]

    # the telephone line takes the energy above 3.4 kHz away
    def high_share(audio: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / 16000)
        return float(spec[freqs > 4000].sum() / spec.sum())

    assert high_share(conv_every.avatar.audio) < 0.2 * high_share(conv_none.avatar.audio)


def test_default_telephone_share_follows_channel_strength() -> None:
    assert CorpusConfig(channel_strength=0.5).telephone_share() == pytest.approx(0.125)
    assert CorpusConfig(channel_strength=0.5, telephone_probability=0.4).telephone_share() == 0.4


def test_telephone_without_other_channel_effects(tmp_path: Path) -> None:
    entry, _ = _one(tmp_path, "t", channel_strength=0.0, bleed_probability=0.0, telephone_probability=1.0)
    assert entry["channel"] == {"avatar": ["telephone"], "user": ["telephone"]}


def test_formant_shift_changes_the_voices_and_nothing_else(tmp_path: Path) -> None:
    quiet = {"duration_s": 12.0, "channel_strength": 0.0, "bleed_probability": 0.0}
    plain, conv_plain = _one(tmp_path, "plain", **quiet)
    moved, conv_moved = _one(tmp_path, "moved", formant_shift=0.2, **quiet)
    factors = [v["formant"] for v in moved["voices"]]
    assert [v["formant"] for v in plain["voices"]] == [1.0, 1.0]
    assert all(0.8 <= f <= 1.2 for f in factors) and len(set(factors)) == 2
    # its own random stream: the same voices, plan and phones; the sound differs (and with it the
    # prosody-linked head motion)
    strip = [{k: v for k, v in d.items() if k != "formant"} for d in (*plain["voices"], *moved["voices"])]
    assert strip[:2] == strip[2:]
    for who in ("avatar", "user"):
        assert conv_plain.tracks[who].phones == conv_moved.tracks[who].phones
        said = [[e for e in c.tracks[who].events if e.kind in VOCAL] for c in (conv_plain, conv_moved)]
        assert said[0] == said[1] and said[0]
    for who, factor in zip(("avatar", "user"), factors, strict=True):
        a, b = (c.tracks[who].audio.astype(np.float64) for c in (conv_plain, conv_moved))
        assert np.sqrt(np.mean(a**2)) > 0.01, f"the {who} says nothing in 12 s"
        change = np.sqrt(np.mean((a - b) ** 2) / np.mean(a**2))
        assert change > 0.5 * abs(np.log(factor)), (who, factor, change)
    with pytest.raises(ValueError, match="formant_shift"):
        CorpusConfig(formant_shift=0.6)


@pytest.mark.parametrize(
    "key", ["telephone_probability", "bleed_probability", "channel_strength", "voice_strength"]
)
def test_shares_outside_0_1_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        CorpusConfig(**{key: 1.5})


def test_cli_refuses_a_bad_share(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="telephone_probability"):
        main(["corpus", "--out", str(tmp_path), "--engines", "procedural", "--telephone-probability", "2"])


def test_cli_refuses_a_bad_formant_shift(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="formant_shift"):
        main(["corpus", "--out", str(tmp_path), "--engines", "procedural", "--formant-shift", "0.7"])
