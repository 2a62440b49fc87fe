"""The LIA-style motion autoencoder in the official names: layout, strict loading, and running it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.paper import (
    PAPER_CONFIG,
    MotionAutoencoder,
    MotionAutoencoderCheckpointError,
    MotionAutoencoderConfig,
    expected_shapes,
    load_motion_autoencoder,
    random_state_dict,
    save_random_checkpoint,
)
from models.paper.layers import ModulatedConv2d, Upsample, upfirdn2d
from models.paper.weights import PREFIX

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
MANIFEST = SHARED / "reference" / "official_checkpoint_manifest.json"

# Small geometry for the fast tests: 32x32, 32-d latents, 4 directions, at most 32 channels.
TINY = MotionAutoencoderConfig(size=32, style_dim=32, motion_dim=4, max_channels=32)


def tiny_model(seed: int = 0) -> MotionAutoencoder:
    return load_motion_autoencoder(random_state_dict(seed, TINY), config=TINY)


def tiny_images(batch: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, TINY.size, TINY.size, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def paper_model() -> MotionAutoencoder:
    return load_motion_autoencoder(random_state_dict(0))


# -- layout ---------------------------------------------------------------------------------------


def test_names_and_shapes_equal_the_manifest() -> None:
    if not MANIFEST.exists():
        pytest.skip(f"manifest not found at {MANIFEST}")
    entries = json.loads(MANIFEST.read_text())["entries"]
    official = {k: tuple(v) for k, v in entries.items() if k.startswith(PREFIX)}
    ours = expected_shapes()
    assert len(official) == 212
    missing = sorted(set(official) - set(ours))
    unexpected = sorted(set(ours) - set(official))
    mismatched = sorted(k for k in set(official) & set(ours) if official[k] != ours[k])
    assert (missing, unexpected, mismatched) == ([], [], [])


def test_manifest_shaped_random_tensors_load() -> None:
    if not MANIFEST.exists():
        pytest.skip(f"manifest not found at {MANIFEST}")
    entries = json.loads(MANIFEST.read_text())["entries"]
    g = torch.Generator().manual_seed(0)
    # the full combined layout; the other components' tensors are ignored here (stand-ins keep it cheap)
    state = {
        k: torch.randn(*shape, generator=g) if k.startswith(PREFIX) else torch.zeros(1)
        for k, shape in entries.items()
    }
    model = load_motion_autoencoder(state)
    w = state["motion_autoencoder.dec.convs.6.conv.weight"]
    assert torch.equal(model.state_dict()["dec.convs.6.conv.weight"], w)


def test_random_state_dict_is_the_layout_and_seeded() -> None:
    a, b, c = random_state_dict(3, TINY), random_state_dict(3, TINY), random_state_dict(4, TINY)
    assert {k: tuple(v.shape) for k, v in a.items()} == expected_shapes(TINY)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a[PREFIX + "dec.direction.weight"], c[PREFIX + "dec.direction.weight"])
    bare = random_state_dict(3, TINY, prefix="")
    assert set(bare) == {k[len(PREFIX) :] for k in a}


# -- strict loading -------------------------------------------------------------------------------


def test_incomplete_paper_folder_is_refused_with_the_missing_names(tmp_path: Path) -> None:
    state = random_state_dict(0, prefix="")  # the separate motion_autoencoder.pth keys bare names
    removed = ["enc.net_app.convs.3.conv2.1.weight", "dec.to_flows.5.bias", "dec.direction.weight"]
    for name in removed:
        del state[name]
    torch.save(state, tmp_path / "motion_autoencoder.pth")
    with pytest.raises(MotionAutoencoderCheckpointError) as e:
        load_motion_autoencoder(tmp_path)
    assert sorted(e.value.missing) == sorted(PREFIX + n for n in removed)
    assert e.value.unexpected == [] and e.value.mismatched == []
    msg = str(e.value)
    assert "3 missing, 0 unexpected, 0 mis-shaped" in msg
    for name in removed:
        assert f"missing: {PREFIX}{name}" in msg


def test_wrong_shape_is_refused_by_name(tmp_path: Path) -> None:
    state = random_state_dict(0, TINY)
    state[PREFIX + "dec.direction.weight"] = torch.zeros(TINY.style_dim, TINY.motion_dim + 1)
    path = tmp_path / "combined.pth"
    torch.save(state, path)
    with pytest.raises(
        MotionAutoencoderCheckpointError, match=r"mis-shaped: motion_autoencoder\.dec\.direction"
    ):
        load_motion_autoencoder(path, config=TINY)


def test_unexpected_names_are_refused_and_other_components_ignored() -> None:
    state = random_state_dict(0, TINY)
    state["flow_transformer.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)  # another component: ignored
    load_motion_autoencoder(state, config=TINY)
    state[PREFIX + "dec.convs.99.noise.weight"] = torch.zeros(1)
    with pytest.raises(
        MotionAutoencoderCheckpointError, match=r"unexpected: motion_autoencoder\.dec\.convs\.99"
    ):
        load_motion_autoencoder(state, config=TINY)


def test_long_missing_lists_are_cut_with_the_count() -> None:
    state = random_state_dict(0, TINY, prefix="")
    for name in [k for k in state if k.startswith("dec.")]:
        del state[name]
    with pytest.raises(MotionAutoencoderCheckpointError) as e:
        load_motion_autoencoder(state, config=TINY)
    n = len(e.value.missing)
    assert n > 20
    assert str(e.value).count("\n  missing: ") == 20
    assert f"... and {n - 20} more missing ({n} in all)" in str(e.value)


def test_folder_forms(tmp_path: Path) -> None:
    bare = save_random_checkpoint(tmp_path / "bare", seed=5, config=TINY)
    assert bare.name == "motion_autoencoder.pth"
    combined_dir = tmp_path / "combined"
    combined_dir.mkdir()
    state = random_state_dict(5, TINY)
    state["flow_transformer.x_embedder.proj.bias"] = torch.zeros(4)
    torch.save({"state_dict": state}, combined_dir / "avatar_forcing.pth")
    a = load_motion_autoencoder(bare.parent, config=TINY)
    b = load_motion_autoencoder(combined_dir, config=TINY)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
    with pytest.raises(FileNotFoundError, match=r"motion_autoencoder\.pth"):
        load_motion_autoencoder(tmp_path / "empty_does_not_exist", config=TINY)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no motion-autoencoder weights"):
        load_motion_autoencoder(tmp_path / "empty", config=TINY)


# -- the paper-size model on CPU ------------------------------------------------------------------


def test_paper_encode_motion_decode_at_512(paper_model: MotionAutoencoder) -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 512, 512, generator=g) * 2 - 1
    with torch.inference_mode():
        src = paper_model.encode(img)
        assert src.identity.shape == (1, 512) and src.alpha.shape == (1, 20) and src.motion.shape == (1, 512)
        sizes = [(f.shape[1], f.shape[2]) for f in src.feats]
        assert sizes == [(512, 8), (512, 16), (512, 32), (256, 64), (128, 128), (64, 256), (32, 512)]
        out = paper_model.decode(src.identity, src.feats, src.motion)
        still = paper_model.decode(src.identity, src.feats, torch.zeros(1, 512))
        again = paper_model.decode(src.identity, src.feats, torch.zeros(1, 512))
    assert out.shape == (1, 3, 512, 512)
    assert torch.isfinite(out).all()
    assert out.abs().max() < 10  # roughly [-1, 1]: random weights, no output squashing
    assert torch.equal(still, again)  # identity latent only: deterministic (no noise injected)
    assert not torch.equal(still, out)


def test_qr_basis_is_orthonormal(paper_model: MotionAutoencoder) -> None:
    q = paper_model.direction_basis()
    assert q.shape == (512, 20)
    assert torch.allclose(q.t() @ q, torch.eye(20), atol=1e-5)
    alpha = torch.randn(3, 20, generator=torch.Generator().manual_seed(0))
    m = paper_model.motion_latent(alpha)
    assert torch.allclose(m, (alpha[:, None, :] * q[None]).sum(-1), atol=1e-5)  # sum_i alpha_i q_i
    assert torch.allclose(paper_model.motion_coefficients(m), alpha, atol=1e-4)


# -- layers and behaviour at a small size ---------------------------------------------------------


def _reference_modulated_conv(layer: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The textbook form: one demodulated weight per sample, grouped convolution."""
    b, cin, h, w = x.shape
    k = layer.kernel_size
    s = layer.modulation(style).view(b, 1, cin, 1, 1)
    weight = layer.scale * layer.weight * s  # (B, Cout, Cin, k, k)
    if layer.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, -1, 1, 1, 1)
    if layer.upsample:
        wt = weight.transpose(1, 2).reshape(b * cin, layer.out_channels, k, k)
        out = F.conv_transpose2d(x.reshape(1, b * cin, h, w), wt, stride=2, groups=b)
        return layer.blur(out.view(b, layer.out_channels, *out.shape[-2:]))
    out = F.conv2d(x.reshape(1, b * cin, h, w), weight.reshape(-1, cin, k, k), padding=k // 2, groups=b)
    return out.view(b, layer.out_channels, h, w)


@pytest.mark.parametrize(
    ("upsample", "demodulate", "k"), [(False, True, 3), (True, True, 3), (False, False, 1)]
)
def test_modulated_conv_equals_per_sample_weights(upsample: bool, demodulate: bool, k: int) -> None:
    torch.manual_seed(0)
    layer = ModulatedConv2d(6, 5, k, 8, demodulate=demodulate, upsample=upsample)
    with torch.no_grad():
        layer.modulation.bias.normal_(1.0, 0.3)
    x, style = torch.randn(2, 6, 7, 7), torch.randn(2, 8)
    ours = layer(x, style)
    assert ours.shape == (2, 5, 14 if upsample else 7, 14 if upsample else 7)
    assert torch.allclose(ours, _reference_modulated_conv(layer, x, style), atol=1e-5)


def test_upfirdn2d_filters_preserve_constants() -> None:
    x = torch.full((1, 2, 6, 6), 3.0)
    up = Upsample()(x)
    assert up.shape == (1, 2, 12, 12)
    assert torch.allclose(up[:, :, 2:-2, 2:-2], torch.full_like(up[:, :, 2:-2, 2:-2], 3.0))
    blur = torch.full((4, 4), 1 / 16)
    down = upfirdn2d(x, blur, down=2, pad=(1, 1))
    assert down.shape == (1, 2, 3, 3) and torch.allclose(down[:, :, 1, 1], torch.tensor(3.0))
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    k = torch.zeros(4, 4)
    k[0, 0] = 1.0  # a true convolution: the first tap weighs the LAST input under the window
    assert torch.equal(upfirdn2d(ramp, k)[0, 0, 0], ramp[0, 0, 0, 3:])


def test_tiny_decode_is_batch_consistent_and_broadcasts() -> None:
    model = tiny_model()
    imgs = tiny_images(3)
    with torch.no_grad():
        src = model.encode(imgs[:1])
        motions = model.motion_latent(model.encode_motion(imgs))  # (3, D)
        together = model.decode(src.identity, src.feats, motions)  # identity/feats broadcast
        alone = torch.cat([model.decode(src.identity, src.feats, m[None]) for m in motions])
        frames = model.decode_frames(src, motions[None], chunk=2)
        reenacted = model(imgs[:1].expand(3, -1, -1, -1), imgs)
    assert together.shape == (3, 3, 32, 32)
    assert torch.allclose(together, alone, atol=1e-4)  # batched vs one by one: rounding only
    assert torch.allclose(frames, together, atol=1e-4)
    assert torch.allclose(reenacted, together, atol=1e-4)


def test_relative_motion_is_lia_transfer() -> None:
    ms, md, m0 = torch.randn(3, 2, 32).unbind(0)
    assert torch.allclose(MotionAutoencoder.relative_motion(ms, md, md), ms)
    assert torch.allclose(MotionAutoencoder.relative_motion(ms, md, m0), ms + md - m0)


def test_gradients_flow_at_reduced_resolution() -> None:
    model = tiny_model().train().requires_grad_(True)
    src, drv = tiny_images(2, seed=2).chunk(2)
    out = model(src, drv)
    loss = (out - drv).abs().mean()
    loss.backward()
    unused = {"dec.to_rgb1.", ".noise.weight"}  # kept for the names; not on the released forward path
    no_grad = [
        n
        for n, p in model.named_parameters()
        if not any(u in n for u in unused)
        and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)
    ]
    assert no_grad == []
    assert math.isfinite(loss.item())


def test_paper_config_is_the_default() -> None:
    assert PAPER_CONFIG == MotionAutoencoderConfig()
    assert (PAPER_CONFIG.size, PAPER_CONFIG.style_dim, PAPER_CONFIG.motion_dim) == (512, 512, 20)
    with pytest.raises(ValueError):
        MotionAutoencoderConfig(size=300)
