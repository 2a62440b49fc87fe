"""`avatar-forcing parity`: the official fixture, and fixtures of other shapes in the same format."""

from pathlib import Path

import pytest
import torch

from models.generator import Conditions, GeneratorConfig, SamplerConfig
from models.generator.masks import alignment_mask, block_causal_lookahead_mask
from models.generator.official import ours_to_official
from models.generator.parity import configs_from_fixture, run_parity
from models.generator.sampler import StreamingSampler, stream_offline
from plugin_server.cli import main

from .conftest import random_conditions, random_model


def test_official_fixture_passes(official_fixture_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parity", str(official_fixture_path)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "sample" in out and "forward_v" in out
    r = run_parity(official_fixture_path)
    assert r.sample_error < 1e-5 and r.forward_error < 1e-5


def test_a_wrong_sample_fails(
    official_fixture_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = torch.load(official_fixture_path, weights_only=True)
    data["sample"] = data["sample"].clone()
    data["sample"][0, 77, 3] += 1e-3
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)
    assert main(["parity", str(bad)]) == 1
    assert "FAIL" in capsys.readouterr().out


def make_fixture(path: Path, cfg: dict, frames: int, seed: int) -> None:
    """Record a fixture in the official format (official names, masks, block noise) with this code."""
    gen_cfg, sam_cfg = configs_from_fixture(cfg)
    model = random_model(gen_cfg, seed)
    state = {ours_to_official(k): v for k, v in model.state_dict().items()}
    w = gen_cfg.window_frames
    state["alignment_mask"] = alignment_mask(w, w, gen_cfg.cond_window)
    state["block_bidir_causal_lookahead_mask"] = block_causal_lookahead_mask(w, gen_cfg.block_frames, 2)
    cond = random_conditions(gen_cfg, frames, seed=seed)
    ref = torch.randn(1, gen_cfg.dim_motion)
    g = torch.Generator().manual_seed(seed)
    noise = [torch.randn(1, w, gen_cfg.dim_motion, generator=g)]
    while w + gen_cfg.block_frames * (len(noise) - 1) < frames:
        noise.append(torch.randn(1, gen_cfg.block_frames, gen_cfg.dim_motion, generator=g))
    sample = stream_offline(StreamingSampler(model, sam_cfg), cond, ref, noise)
    x = torch.randn(1, w, gen_cfg.dim_motion)
    t = (
        torch.randint(0, 1000, (1, w // gen_cfg.block_frames))
        .repeat_interleave(gen_cfg.block_frames, 1)
        .float()
    )
    with torch.no_grad():
        v = model.forward_window(x, t, ref, cond.index(torch.arange(w).clamp(max=frames - 1)))
    torch.save(
        {
            "config": cfg,
            "state_dict": state,
            "avatar_audio_feat": cond.avatar_audio,
            "user_audio_feat": cond.user_audio,
            "user_motion": cond.user_motion,
            "ref_motion": ref,
            "block_noise": noise,
            "sample": sample,
            "forward_t": t,
            "forward_x": x,
            "forward_v": v,
        },
        path,
    )


@pytest.mark.parametrize(
    ("cfg", "frames"),
    [
        ({"dim_motion": 12, "dim_cond": 16, "hidden": 48, "depth": 3, "heads": 3, "cond_heads": 2}, 123),
        ({"dim_motion": 20, "dim_cond": 8, "hidden": 32, "depth": 1, "heads": 4, "cond_heads": 4}, 37),
    ],
)
def test_other_fixture_shapes(
    tmp_path: Path, cfg: dict, frames: int, capsys: pytest.CaptureFixture[str]
) -> None:
    full = {
        **cfg,
        "mlp_ratio": 4.0,
        "fps": 25,
        "window_frames": 50,
        "block_frames": 10,
        "context_frames": 2,
        "lookahead_frames": 2,
        "cond_window": 2,
        "nfe": 10,
        "a_cfg_scale": 2.0,
        "u_cfg_scale": 1.0,
        "num_train_timesteps": 1000,
    }
    path = tmp_path / "fixture.pt"
    make_fixture(path, full, frames, seed=frames)
    assert main(["parity", str(path)]) == 0
    assert f"{frames} frames" in capsys.readouterr().out


def test_unknown_fixture_config_key_is_refused() -> None:
    with pytest.raises(ValueError, match="warp_speed"):
        configs_from_fixture({"hidden": 32, "warp_speed": 9})


def test_fixture_config_split() -> None:
    gen, sam = configs_from_fixture({"hidden": 64, "heads": 4, "nfe": 6, "a_cfg_scale": 1.5})
    assert isinstance(gen, GeneratorConfig) and gen.hidden == 64
    assert sam == SamplerConfig(schedule="official", nfe=6, a_cfg_scale=1.5)
    assert isinstance(Conditions, type)
