import pytest

from models.generator.config import PRESETS, ConfigError, GeneratorConfig, SamplerConfig, get_preset


def test_paper_preset_matches_the_paper() -> None:
    g = get_preset("paper").generator
    assert (g.hidden, g.depth, g.heads, g.dim_motion, g.dim_cond) == (1024, 8, 8, 512, 512)
    assert (g.window_frames, g.block_frames, g.lookahead_frames, g.cond_window) == (50, 10, 2, 2)
    assert get_preset("paper").sampler.schedule == "official"


def test_small_preset_is_arkit_sized_and_realtime() -> None:
    p = get_preset("small")
    assert p.generator.dim_motion == 58
    assert p.sampler.schedule == "realtime"


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(ConfigError, match="paper"):
        get_preset("huge")


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ConfigError, match="hiden"):
        GeneratorConfig.from_dict({"hiden": 3})
    with pytest.raises(ConfigError, match="valid keys"):
        SamplerConfig.from_dict({"steps": 3})
    with pytest.raises(ConfigError, match="bogus"):
        GeneratorConfig().replace(bogus=1)


def test_round_trip() -> None:
    for preset in PRESETS.values():
        assert GeneratorConfig.from_dict(preset.generator.to_dict()) == preset.generator
        assert SamplerConfig.from_dict(preset.sampler.to_dict()) == preset.sampler


@pytest.mark.parametrize(
    "kwargs",
    [{"hidden": 30, "heads": 4}, {"hidden": 12, "heads": 4}, {"window_frames": 12, "block_frames": 10}],
)
def test_invalid_geometry_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs)


def test_invalid_sampler_values() -> None:
    with pytest.raises(ConfigError, match="schedule"):
        SamplerConfig(schedule="fast")
    with pytest.raises(ConfigError, match="nfe"):
        SamplerConfig(nfe=2)
