"""Corpus builder: the channel knobs (telephone and bleed shares) and their validation."""

from pathlib import Path

import numpy as np
import pytest

from models.corpus.builder import CorpusConfig, build_one
from models.corpus.conversation import Conversation
from plugin_server.cli import main


def _one(tmp_path: Path, name: str, **kw: float) -> tuple[dict, Conversation]:
    config = CorpusConfig(conversations=1, duration_s=4.0, seed=7, engines=("procedural",), **kw)
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


@pytest.mark.parametrize(
    "key", ["telephone_probability", "bleed_probability", "channel_strength", "voice_strength"]
)
def test_shares_outside_0_1_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        CorpusConfig(**{key: 1.5})


def test_cli_refuses_a_bad_share(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="telephone_probability"):
        main(["corpus", "--out", str(tmp_path), "--engines", "procedural", "--telephone-probability", "2"])
