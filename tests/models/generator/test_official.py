import json

import pytest
import torch

from models.generator import get_preset
from models.generator.official import (
    CheckpointMismatchError,
    load_official_generator,
    official_to_ours,
    ours_to_official,
    split_official_components,
)

from .conftest import MANIFEST


@pytest.fixture(scope="module")
def manifest_state() -> dict[str, torch.Tensor]:
    if not MANIFEST.exists():
        pytest.skip(f"manifest not found at {MANIFEST}")
    entries = json.loads(MANIFEST.read_text())["entries"]
    g = torch.Generator().manual_seed(0)
    return {name: torch.randn(*shape, generator=g) for name, shape in entries.items()}


def test_name_mapping_round_trips() -> None:
    for official in [
        "x_embedder.proj.weight",
        "blocks.7.attn.proj.bias",
        "blocks.3.cross_attn.proj.weight",
        "c_embedder.motion_embedder.4.bias",
        "final_layer.adaLN_modulation.1.weight",
    ]:
        ours = official_to_ours(official)
        assert ours is not None and ours_to_official(ours) == official
    assert official_to_ours("blocks.0.attn.proj.weight") == "blocks.0.self_attn.out.weight"
    assert official_to_ours("blocks.0.cross_attn.proj.weight") == "blocks.0.cross_attn.out.weight"
    assert official_to_ours("something.else") is None


def test_random_manifest_state_dict_loads_into_paper_preset(manifest_state: dict[str, torch.Tensor]) -> None:
    parts = split_official_components(manifest_state)
    assert set(parts) == {"flow_transformer", "motion_autoencoder", "audio_encoder"}
    model = load_official_generator(manifest_state, get_preset("paper").generator)
    ours = model.state_dict()
    w = manifest_state["flow_transformer.blocks.5.cross_attn.proj.weight"]
    assert torch.equal(ours["blocks.5.cross_attn.out.weight"], w)
    n_params = sum(p.numel() for p in model.parameters())
    n_manifest = sum(v.numel() for k, v in parts["flow_transformer"].items() if "mask" not in k)
    assert n_params == n_manifest


def test_missing_tensor_is_refused_by_name(manifest_state: dict[str, torch.Tensor]) -> None:
    state = dict(manifest_state)
    del state["flow_transformer.blocks.2.mlp.fc1.bias"]
    with pytest.raises(
        CheckpointMismatchError, match=r"missing: flow_transformer\.blocks\.2\.mlp\.fc1\.bias"
    ):
        load_official_generator(state, get_preset("paper").generator)


def test_misshaped_tensor_is_refused_by_name(manifest_state: dict[str, torch.Tensor]) -> None:
    state = dict(manifest_state)
    state["flow_transformer.t_embedder.mlp.0.weight"] = torch.zeros(1024, 128)
    with pytest.raises(
        CheckpointMismatchError, match=r"mis-shaped: flow_transformer\.t_embedder\.mlp\.0\.weight"
    ) as e:
        load_official_generator(state, get_preset("paper").generator)
    assert "missing" not in str(e.value)


def test_unexpected_tensor_is_refused_by_name(manifest_state: dict[str, torch.Tensor]) -> None:
    state = dict(manifest_state)
    state["flow_transformer.blocks.8.attn.qkv.weight"] = torch.zeros(3072, 1024)
    with pytest.raises(
        CheckpointMismatchError, match=r"unexpected: flow_transformer\.blocks\.8\.attn\.qkv\.weight"
    ):
        load_official_generator(state, get_preset("paper").generator)


def test_every_problem_is_listed(manifest_state: dict[str, torch.Tensor]) -> None:
    state = {k: v for k, v in manifest_state.items() if "blocks.1.cross_attn" not in k}
    with pytest.raises(CheckpointMismatchError) as e:
        load_official_generator(state, get_preset("paper").generator)
    assert str(e.value).count("missing:") == 6
