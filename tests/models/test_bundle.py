from pathlib import Path

import pytest
import torch

from models.bundle import AvatarForcingModel, ModelCard, default_card
from models.generator.config import ConfigError
from models.motion.stats import MotionStats


def test_card_round_trip() -> None:
    card = default_card().replace(rest_pose=tuple([0.1] * 58), training={"seed": 3})
    again = ModelCard.from_dict(card.to_dict())
    assert again == card
    d = card.to_dict()
    assert d["fps"] == 25 and d["motion_space"] == "arkit" and d["block_frames"] == 4


def test_card_refuses_unknown_keys_and_mismatches() -> None:
    d = default_card().to_dict()
    d["colour"] = "blue"
    with pytest.raises(ConfigError, match="colour"):
        ModelCard.from_dict(d)
    with pytest.raises(ConfigError, match="stats"):
        default_card(MotionStats.identity(10))
    with pytest.raises(ConfigError, match="motion space"):
        default_card().replace(motion_space="flame")


def test_save_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = AvatarForcingModel(default_card())
    path = tmp_path / "m.pt"
    model.save(path, seed=5)
    back = AvatarForcingModel.load(path)
    assert back.card.training == {"seed": 5}
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # loads with weights_only (no pickled code)
    assert torch.load(path, weights_only=True)["format"] == "avatar-forcing/1"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        AvatarForcingModel.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="not an avatar-forcing checkpoint"):
        AvatarForcingModel.load(bad)


def test_half_precision_storage(tmp_path: Path) -> None:
    model = AvatarForcingModel(default_card())
    model.save(tmp_path / "full.pt")
    model.save(tmp_path / "half.pt", half=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    back = AvatarForcingModel.load(tmp_path / "half.pt")
    w = back.generator.input_proj.weight
    assert w.dtype == torch.float32
    assert torch.allclose(w, model.generator.input_proj.weight, atol=1e-3)


def test_an_arkit_model_names_its_speech_channels_for_the_sampler() -> None:
    from models.motion.arkit import speech_channel_indices

    model = AvatarForcingModel(default_card())
    assert model.generator.speech_channels == tuple(speech_channel_indices())
