import json

import pytest
import torch

from models.audio.encoder import AudioEncoder, AudioEncoderConfig, EncoderState
from models.audio.features import FrontEndConfig
from models.generator.config import ConfigError


def _model(seed: int = 0, **changes: int) -> AudioEncoder:
    torch.manual_seed(seed)
    return AudioEncoder(AudioEncoderConfig(**changes)).eval()


def _feats(b: int, t: int, seed: int = 0) -> torch.Tensor:
    lo, hi = FrontEndConfig().feature_bounds
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 164, generator=g) * (hi - lo) + lo  # (B, T, F)


def test_default_is_small_and_matches_the_front_end() -> None:
    model = _model()
    assert model.config.dim_in == FrontEndConfig().feature_dim
    assert model.num_parameters() < 500_000
    out, state = model(_feats(2, 30))
    assert out.shape == (2, 30, 128)
    assert state.gru.shape == (1, 2, 128)
    assert [tuple(c.shape) for c in state.conv] == [(2, 164, 2), (2, 128, 4)]


@pytest.mark.parametrize("blocks", [[1] * 40, [2, 3, 5, 7, 11, 12], [10, 10, 10, 10], [39, 1]])
def test_block_by_block_equals_whole_sequence(blocks: list[int]) -> None:
    model = _model()
    x = _feats(2, sum(blocks))
    with torch.no_grad():
        whole, whole_state = model(x)
        state: EncoderState | None = None
        outs, start = [], 0
        for n in blocks:
            out, state = model(x[:, start : start + n], state)
            outs.append(out)
            start += n
    torch.testing.assert_close(torch.cat(outs, dim=1), whole, atol=1e-5, rtol=0)
    assert state is not None
    torch.testing.assert_close(state.gru, whole_state.gru, atol=1e-5, rtol=0)


def test_init_state_equals_no_state() -> None:
    model = _model()
    x = _feats(3, 9)
    with torch.no_grad():
        torch.testing.assert_close(model(x, model.init_state(3))[0], model(x)[0])


def test_outputs_are_causal() -> None:
    model = _model()
    x = _feats(1, 25)
    y = x.clone()
    y[:, 12:] = _feats(1, 13, seed=5)
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    torch.testing.assert_close(a[:, :12], b[:, :12], atol=0, rtol=0)
    assert not torch.allclose(a[:, 12], b[:, 12])


def test_empty_block_keeps_state() -> None:
    model = _model()
    _, state = model(_feats(1, 4))
    out, same = model(_feats(1, 0), state)
    assert out.shape == (1, 0, 128) and same is state


def test_gradients_flow_and_state_detaches() -> None:
    model = AudioEncoder()
    out, state = model(_feats(2, 6))
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert not state.detach().gru.requires_grad


def test_bad_inputs() -> None:
    model = _model()
    with pytest.raises(ValueError, match="164"):
        model(torch.zeros(1, 5, 100))
    with pytest.raises(ValueError, match="batch"):
        model(_feats(2, 3), model.init_state(1))


def test_config_round_trip_and_errors() -> None:
    cfg = AudioEncoderConfig(dim_cond=64, conv_layers=3)
    assert AudioEncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="valid keys"):
        AudioEncoderConfig.from_dict({"dim_out": 3})
    with pytest.raises(ConfigError, match="kernel_size"):
        AudioEncoderConfig(kernel_size=0)
    model = _model(dim_cond=64, conv_layers=3)
    assert model(_feats(1, 7))[0].shape == (1, 7, 64)
