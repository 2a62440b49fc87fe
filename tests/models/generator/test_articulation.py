"""The articulation head and how the sampler blends it into the speech channels."""

import pytest
import torch

from models.generator import SamplerConfig
from models.generator.articulation import ArticulationHead, blend_channels, expected_pose, fit_class_poses
from models.generator.batched import step_batched
from models.generator.config import ConfigError, GeneratorConfig
from models.generator.reference import ReferenceSampler
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator

from .conftest import TINY, random_conditions, random_model

HEADED = TINY.replace(articulation_classes=3, articulation_hidden=16)
SPEECH = (0, 2)


def headed_model(seed: int = 0) -> MotionGenerator:
    model = random_model(HEADED, seed)
    model.speech_channels = SPEECH
    return model


def test_expected_pose_is_the_posterior_mean_of_the_class_poses() -> None:
    poses = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]])  # (K, D)
    sure = torch.tensor([[[0.0, 50.0, 0.0], [0.0, 0.0, 50.0]]])  # (1, 2, K): class 1, then class 2
    assert torch.allclose(expected_pose(sure, poses), torch.tensor([[[1.0, 2.0], [3.0, -1.0]]]), atol=1e-6)
    even = torch.zeros(1, 1, 3)
    assert torch.allclose(expected_pose(even, poses), poses.mean(0).view(1, 1, 2))


def test_class_poses_are_per_class_means_and_an_unseen_class_gets_the_overall_mean() -> None:
    motion = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    labels = torch.tensor([0, 0, 2])
    poses = fit_class_poses(motion, labels, 3)
    assert torch.allclose(poses[0], torch.tensor([1.0, 2.0]))
    assert torch.allclose(poses[2], torch.tensor([4.0, 5.0]))
    assert torch.allclose(poses[1], motion.mean(0))  # class 1 never occurs
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2"):
        fit_class_poses(motion, torch.tensor([0, 3, 1]), 3)
    with pytest.raises(ValueError, match=r"motion must be \(N, D\)"):
        fit_class_poses(motion, torch.tensor([0, 1]), 3)


def test_blend_moves_only_the_named_channels() -> None:
    x = torch.zeros(1, 2, 4)
    target = torch.ones(1, 2, 4)
    half = blend_channels(x, target, 0.25, [1, 3])
    assert torch.equal(half[..., [0, 2]], x[..., [0, 2]])
    assert torch.allclose(half[..., [1, 3]], torch.full((1, 2, 2), 0.25))
    assert torch.equal(blend_channels(x, target, 0.0, [1]), x)
    assert torch.equal(blend_channels(x, target, 1.0, [1])[..., 1], target[..., 1])
    with pytest.raises(ValueError, match="weight must be in"):
        blend_channels(x, target, 1.5, [1])
    with pytest.raises(ValueError, match="differ in shape"):
        blend_channels(x, target[:, :1], 0.5, [1])


def test_head_shapes_and_config_checks() -> None:
    head = ArticulationHead(dim_cond=8, classes=4, dim_motion=6, hidden=16)
    assert head(torch.randn(2, 5, 8)).shape == (2, 5, 4)
    assert head.target(torch.randn(2, 5, 8)).shape == (2, 5, 6)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ArticulationHead(8, 1, 6)
    with pytest.raises(ConfigError, match="articulation_classes"):
        GeneratorConfig(articulation_classes=1)
    with pytest.raises(ConfigError, match="articulation must be in"):
        SamplerConfig(articulation=-0.1)
    assert random_model(TINY).articulation is None  # no head unless asked (official checkpoints)


def _block(model: MotionGenerator, articulation: float, blocks: int = 1) -> list[torch.Tensor]:
    cfg = SamplerConfig(schedule="realtime", nfe=4, block_frames=4, articulation=articulation)
    s = StreamingSampler(model, cfg)
    s.reset(torch.zeros(1, TINY.dim_motion))
    noise = torch.Generator().manual_seed(3)
    cond = random_conditions(TINY, 4 * blocks)
    return [s.step(cond.slice(4 * i, 4 * i + 4), generator=noise) for i in range(blocks)]


def test_sampler_blends_the_head_target_into_the_speech_channels_only() -> None:
    """Weight 0 is the generator's own motion (the head is not even read); weight 1 puts the
    head's target on the speech channels and leaves the others as sampled; later blocks see the
    blended frames as their history."""
    model = headed_model()
    head = model.articulation
    assert head is not None
    plain = _block(model, 0.0, blocks=2)
    full = _block(model, 1.0, blocks=2)
    cond = random_conditions(TINY, 8)
    target = head.target(cond.avatar_audio)  # (1, 8, D)
    other = [i for i in range(TINY.dim_motion) if i not in SPEECH]
    assert torch.allclose(full[0][..., list(SPEECH)], target[:, :4, list(SPEECH)], atol=1e-6)
    assert torch.allclose(full[0][..., other], plain[0][..., other], atol=1e-6)  # the first block: same noise
    assert torch.allclose(full[1][..., list(SPEECH)], target[:, 4:, list(SPEECH)], atol=1e-6)
    assert not torch.allclose(full[1][..., other], plain[1][..., other], atol=1e-4)  # the history differs
    half = _block(model, 0.5, blocks=2)[0]
    assert torch.allclose(half[..., list(SPEECH)], 0.5 * (plain[0] + full[0])[..., list(SPEECH)], atol=1e-5)


def test_a_model_without_head_or_speech_channels_refuses_articulation() -> None:
    with pytest.raises(ValueError, match="needs a model with an articulation head"):
        StreamingSampler(random_model(), SamplerConfig(articulation=0.5))
    no_speech = random_model(HEADED)  # a head but no named speech channels (a latent motion space)
    with pytest.raises(ValueError, match="named speech channels"):
        StreamingSampler(no_speech, SamplerConfig(articulation=0.5))
    StreamingSampler(random_model(), SamplerConfig(articulation=0.0))  # 0 needs nothing
    with pytest.raises(ValueError, match="no articulation head"):
        ReferenceSampler(headed_model(), SamplerConfig(schedule="official", articulation=0.5))


def test_batched_streams_blend_as_they_would_alone() -> None:
    model = headed_model()
    cfg = SamplerConfig(schedule="realtime", nfe=4, block_frames=3, articulation=0.7)
    alone, batched = [], []
    for group in (alone, batched):
        for i in range(2):
            s = StreamingSampler(model, cfg)
            s.reset(torch.randn(1, TINY.dim_motion, generator=torch.Generator().manual_seed(i)))
            group.append(s)
    conds = [random_conditions(TINY, 12, seed=i) for i in range(2)]
    gens_a = [torch.Generator().manual_seed(10 + i) for i in range(2)]
    gens_b = [torch.Generator().manual_seed(10 + i) for i in range(2)]
    for done in range(0, 12, 3):
        blocks = [c.slice(done, done + 3) for c in conds]
        want = [s.step(c, generator=g) for s, c, g in zip(alone, blocks, gens_a, strict=True)]
        got = step_batched(batched, blocks, generators=gens_b)
        for w, g in zip(want, got, strict=True):
            assert torch.allclose(g, w, atol=1e-4 * max(1.0, float(w.abs().max())))
