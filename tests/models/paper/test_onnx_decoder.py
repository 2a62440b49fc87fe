"""The motion autoencoder's decoder exported to ONNX and run on onnxruntime matches the torch decoder.

Tolerance: max |onnx - torch| <= 2e-4 * max(1, max |torch|) over the frames (before clamping).
Both compute the same float32 arithmetic; onnxruntime's convolution kernels and fusions sum in
another order. Measured on the tiny geometry (32x32, <= 32 channels): 4e-5 to 5e-5 with outputs
up to ~2.8. At the paper size with RANDOM weights the decoder is ill-conditioned (a few isolated
pixels move by up to ~0.15 under a 1e-7 relative change of the motion, and torch float32 itself is
0.15 off a float64 run there), so the paper-size check is relative to a float64 reference
(benchmarks/bench_paper.py reports it); the fast tests use the tiny geometry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx decoder needs onnxruntime (the test extra has it)")
pytest.importorskip("onnx", reason="exporting the decoder needs the onnx package (the test extra has it)")

from models.generator.onnx_export import CACHE_ENV
from models.paper import onnx_decoder
from models.paper.layers import upfirdn2d
from models.paper.motion_autoencoder import MotionAutoencoder
from models.paper.onnx_decoder import (
    DECODER_FILE,
    OnnxDecoder,
    TorchDecoder,
    _traceable_upfirdn2d,
    cached_decoder_export,
    decoder_for,
    decoder_hash,
    read_manifest,
)
from models.paper.weights import load_motion_autoencoder, random_state_dict
from models.paper.weights_folder import PaperConfig

TINY = PaperConfig.tiny()
TOLERANCE = 2e-4  # relative to max(1, max |torch output|); see the module doc


def _assert_close(got: torch.Tensor, want: torch.Tensor) -> float:
    assert got.shape == want.shape
    diff = float((got - want).abs().max())
    assert diff <= TOLERANCE * max(1.0, float(want.abs().max())), diff
    return diff


def _autoencoder(seed: int = 0) -> MotionAutoencoder:
    return load_motion_autoencoder(random_state_dict(seed, TINY.autoencoder), config=TINY.autoencoder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[MotionAutoencoder, OnnxDecoder]:
    ae = _autoencoder()
    return ae, OnnxDecoder.for_autoencoder(ae, cache_root=tmp_path_factory.mktemp("onnx-cache"))


def _source(ae: MotionAutoencoder, seed: int = 1) -> tuple[torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    s = ae.config.size
    with torch.no_grad():
        return ae.encode_identity(torch.rand(1, 3, s, s, generator=g) * 2 - 1)  # (1, D), feats


@pytest.mark.parametrize(
    ("up", "down", "pad"), [(2, 1, (2, 1)), (1, 1, (1, 1)), (1, 2, (2, 1)), (1, 1, (-1, 0))]
)
def test_traceable_upfirdn2d_equals_upfirdn2d(up: int, down: int, pad: tuple[int, int]) -> None:
    x = torch.randn(3, 5, 7, 6)  # (B, C, H, W)
    kernel = torch.rand(4, 4)
    torch.testing.assert_close(
        _traceable_upfirdn2d(x, kernel, up, down, pad), upfirdn2d(x, kernel, up, down, pad)
    )


def test_one_export_decodes_1_and_5_frames_like_torch(tiny: tuple[MotionAutoencoder, OnnxDecoder]) -> None:
    ae, dec = tiny
    identity, feats = _source(ae)
    g = torch.Generator().manual_seed(2)
    for n in (1, 5):  # traced with 3 frames: both sizes run from the same graph
        motion = torch.randn(n, ae.config.style_dim, generator=g)  # (n, D)
        with torch.no_grad():
            want = ae.decode(identity, feats, motion)  # (n, 3, S, S)
        got = dec.decode(identity, feats, motion)
        assert got.shape == (n, 3, ae.config.size, ae.config.size)
        _assert_close(got, want)
    # one source per frame (P = n) runs too, and an empty block gives no frames
    ids = torch.randn(4, ae.config.style_dim, generator=g)
    per_frame = [f.expand(4, -1, -1, -1) * (1 + torch.rand(4, 1, 1, 1, generator=g)) for f in feats]
    motion = torch.randn(4, ae.config.style_dim, generator=g)
    with torch.no_grad():
        _assert_close(dec.decode(ids, per_frame, motion), ae.decode(ids, per_frame, motion))
    assert dec.decode(identity, feats, motion[:0]).shape == (0, 3, ae.config.size, ae.config.size)


def test_the_cache_is_reused_and_keyed_by_the_weights(
    tiny: tuple[MotionAutoencoder, OnnxDecoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    ae, dec = tiny
    root = dec.directory.parent.parent
    assert dec.directory.name == decoder_hash(ae) == read_manifest(dec.directory)["hash"]
    stamp = (dec.directory / DECODER_FILE).stat().st_mtime_ns

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_decoder, "export_decoder", no_export)
    assert cached_decoder_export(ae, root) == dec.directory  # found, not exported again
    assert (dec.directory / DECODER_FILE).stat().st_mtime_ns == stamp
    other = _autoencoder(seed=5)
    assert decoder_hash(other) != decoder_hash(ae)
    with pytest.raises(AssertionError, match="exported again"):
        cached_decoder_export(other, root)


def test_decoder_for_shares_one_session_per_autoencoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    ae = _autoencoder()
    first = decoder_for(ae, "onnx")
    assert isinstance(first, OnnxDecoder) and decoder_for(ae, "onnx") is first
    assert isinstance(decoder_for(ae, "torch"), TorchDecoder)
    with pytest.raises(ValueError, match="unknown decoder backend"):
        decoder_for(ae, "tensorrt")


def test_the_pipeline_on_the_onnx_decoder_gives_the_torch_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("transformers", reason="transformers is not installed (the optional `paper` extra)")
    from models.paper.pipeline import PaperAvatar, PaperComponents

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    components = PaperComponents.random(TINY, seed=0)
    portrait = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    frames = {}
    for backend in ("torch", "onnx"):
        avatar = PaperAvatar(components, seed=0, decoder_backend=backend)
        assert avatar.decoder.name == backend
        avatar.set_portrait(portrait)
        avatar.push_avatar_audio(np.random.default_rng(2).normal(0, 0.1, 8000).astype(np.float32), 16000)
        avatar.fill_silence(20)
        out = [avatar.step(), avatar.step()]  # two 10-frame blocks
        assert all(f is not None for f in out)
        frames[backend] = np.concatenate(out).astype(np.int16)  # type: ignore[arg-type]
    assert frames["onnx"].shape == (20, 32, 32, 3)
    assert np.abs(frames["onnx"] - frames["torch"]).max() <= 1
