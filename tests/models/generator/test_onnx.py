"""The onnx generator backend: exported graphs on onnxruntime match the torch network.

Tolerance: max |onnx - torch| <= 1e-4 * max(1, max |torch|) over the generated motion, i.e. 1e-4
absolute for outputs within +-1 and 1e-4 relative beyond. Both backends compute the same float32
arithmetic; only the order of the sums inside matrix products and attention differs (onnxruntime's
kernels and graph fusions vs torch's), which moves each evaluation by a few float32 ulps. Measured
over 24 streamed blocks (the cache full and rolling): 1.4e-6 to 3.6e-6 for the one-layer model
(outputs up to ~5), 1.5e-5 for the bundled model (outputs up to ~6: 2.5e-6 relative), 1e-5 to
2e-5 for the paper widths (outputs up to ~10: 2e-6 relative); the errors do not grow along the
stream. Real mismatches are far above it (same streams, one-layer model): the oldest cached frame
dropped 2e-2, the last frame of a block hidden from the others 4e-2, every weight 0.1 % off 3e-3
(`test_tolerance_catches_a_wrong_cache`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx backend needs onnxruntime (the test extra has it)")
pytest.importorskip("onnx", reason="exporting the generator needs the onnx package (the test extra has it)")

from models.bundle import AvatarForcingModel
from models.generator import SamplerConfig
from models.generator.backend import TorchBackend, get_backend, set_backend, use_backend
from models.generator.batched import step_batched
from models.generator.benchmark import SmoothConditions, randomize_weights
from models.generator.config import get_preset
from models.generator.onnx_backend import OnnxBackend, compare_backends
from models.generator.onnx_export import (
    MANIFEST_FILE,
    OnnxUnavailableError,
    cached_export,
    graphs_hash,
    read_manifest,
)
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator
from models.stream import animate
from tests.helpers import small_random_model, speech

TOLERANCE = 1e-4  # relative to max(1, max |torch output|); see the module doc


def _assert_close(got: torch.Tensor | np.ndarray, want: torch.Tensor | np.ndarray) -> float:
    got_t, want_t = torch.as_tensor(got), torch.as_tensor(want)
    assert got_t.shape == want_t.shape
    diff = float((got_t - want_t).abs().max())
    assert diff <= TOLERANCE * max(1.0, float(want_t.abs().max())), diff
    return diff


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[MotionGenerator, OnnxBackend]:
    """The default architecture with one layer and random weights, and its onnx backend (cache in a
    temporary directory)."""
    generator = small_random_model().generator
    backend = OnnxBackend.for_model(generator, cache_root=tmp_path_factory.mktemp("onnx-cache"))
    return generator, backend


@pytest.mark.parametrize(
    "cfg",
    [
        SamplerConfig(schedule="realtime", block_frames=4),
        SamplerConfig(schedule="realtime", block_frames=4, guidance=False, nfe=4),
        SamplerConfig(schedule="realtime", block_frames=3, nfe=4, context_timestep=100.0),
        SamplerConfig(schedule="official", nfe=4),
    ],
    ids=["realtime", "no-guidance", "noisy-context", "official"],
)
def test_tiny_model_stream_matches_torch(
    tiny: tuple[MotionGenerator, OnnxBackend], cfg: SamplerConfig
) -> None:
    """24 blocks with the same noise and seeds: from the empty cache through the full, rolling one."""
    generator, backend = tiny
    g = generator.config
    sampler = StreamingSampler(generator, cfg)
    ref = torch.randn(1, g.dim_motion, generator=torch.Generator().manual_seed(3))
    conds = SmoothConditions(g, generator=torch.Generator().manual_seed(4))
    noise_g = torch.Generator().manual_seed(5)
    blocks = []
    for k in range(24):
        n = g.window_frames if k == 0 and cfg.schedule == "official" else sampler.block
        blocks.append((conds.next(n), torch.randn(1, n, g.dim_motion, generator=noise_g)))
    outputs, cached = [], []
    for net in (None, backend):
        set_backend(generator, net)
        try:
            assert sampler.backend.name == ("torch" if net is None else "onnx")
            sampler.reset(ref)
            rng = torch.Generator().manual_seed(6)
            steps = []
            for cond, noise in blocks:
                steps.append(sampler.step(cond, noise, rng))
                assert sampler.cache is not None
                cached.append(sampler.cache.cached_frames)
            outputs.append(torch.cat(steps, dim=1))
        finally:
            set_backend(generator, None)
    assert sampler.cache is not None
    full = sampler.cache.max_self_frames
    assert cached.count(full) >= 6  # several blocks ran on a full cache that rolls
    _assert_close(outputs[1], outputs[0])


def test_tolerance_catches_a_wrong_cache(tiny: tuple[MotionGenerator, OnnxBackend]) -> None:
    """The negative control: a backend that loses the oldest cached frame once the cache holds more
    than one is far outside the tolerance (so the check really covers the rolling cache)."""
    generator = tiny[0]

    class DropOldest(TorchBackend):
        def evaluate(self, x, t, ref, cross_kv, cross_mask, self_mask, past, kv_only=False):  # type: ignore[no-untyped-def]
            if past is not None and past[0][0].shape[2] > 1:
                past = [(k[:, :, 1:], v[:, :, 1:]) for k, v in past]
                self_mask = self_mask[:, 1:]
            return super().evaluate(x, t, ref, cross_kv, cross_mask, self_mask, past, kv_only)

    cfg = SamplerConfig(schedule="realtime", block_frames=4)
    diff, scale, _ = compare_backends(generator, DropOldest(generator), cfg, blocks=24)
    assert diff > 10 * TOLERANCE * max(1.0, scale)
    assert isinstance(get_backend(generator), TorchBackend)  # restored


def test_batched_streams_match_torch(tiny: tuple[MotionGenerator, OnnxBackend]) -> None:
    """Two streams stepped as one batch (branches x streams rows) on onnx = each alone on torch."""
    generator, backend = tiny
    g = generator.config
    cfg = SamplerConfig(schedule="realtime", block_frames=4, nfe=4)
    conds = [SmoothConditions(g, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    blocks = [[c.next(4) for _ in range(16)] for c in conds]
    refs = [torch.randn(1, g.dim_motion, generator=torch.Generator().manual_seed(10 + i)) for i in range(2)]

    alone = []
    for i in range(2):
        s = StreamingSampler(generator, cfg)
        s.reset(refs[i])
        rng = torch.Generator().manual_seed(20 + i)
        alone.append(torch.cat([s.step(c, generator=rng) for c in blocks[i]], dim=1))

    set_backend(generator, backend)
    try:
        samplers = [StreamingSampler(generator, cfg) for _ in range(2)]
        for s, r in zip(samplers, refs, strict=True):
            s.reset(r)
        rngs = [torch.Generator().manual_seed(20 + i) for i in range(2)]
        outs: list[list[torch.Tensor]] = [[], []]
        for k in range(16):
            for i, m in enumerate(step_batched(samplers, [blocks[0][k], blocks[1][k]], generators=rngs)):
                outs[i].append(m)
    finally:
        set_backend(generator, None)
    for i in range(2):
        _assert_close(torch.cat(outs[i], dim=1), alone[i])


def test_bundled_model_via_export_cli_matches_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`avatar-forcing export-onnx --out DIR` on the bundled model, then --onnx-dir DIR: 25 streamed
    blocks of the generator, and `animate` (the live stream path the server's sessions drive)."""
    from plugin_server.cli import main
    from plugin_server.cli.options import apply_backend

    out = tmp_path / "graphs"
    assert main(["export-onnx", "--out", str(out), "--check-blocks", "0"]) == 0
    assert "exported the generator" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"conditions.onnx", "step.onnx", MANIFEST_FILE}

    model = AvatarForcingModel.load()
    backend = OnnxBackend.for_model(model.generator, onnx_dir=out)
    diff, scale, frames = compare_backends(model.generator, backend, model.card.sampler, blocks=25)
    assert frames == 100 and diff <= TOLERANCE * max(1.0, scale), (diff, scale)

    audio = speech(4.0, 16000)
    want = animate(model, audio, 16000, seed=2)
    args = argparse.Namespace(backend="onnx", onnx_dir=str(out))
    assert apply_backend(model.generator, args) is None
    try:
        assert get_backend(model.generator).name == "onnx"
        got = animate(model, audio, 16000, seed=2)
    finally:
        set_backend(model.generator, None)
    # Compared in the normalised space the tolerance is stated for (ARKit head angles are in degrees).
    stats = model.card.stats
    _assert_close(stats.normalize(torch.from_numpy(got)), stats.normalize(torch.from_numpy(want)))


def test_paper_widths_match_torch(tmp_path: Path) -> None:
    """The paper preset (512-d motion and audio, hidden 1024, 8 heads) with random weights, cut to
    two layers so the export stays quick on a CPU (the full 8 layers repeat the same layer graph;
    benchmarks/bench_onnx.py runs them): two realtime blocks, the second on the cache of the first."""
    cfg = get_preset("paper").generator.replace(depth=2)
    generator = randomize_weights(MotionGenerator(cfg), torch.Generator().manual_seed(0)).eval()
    backend = OnnxBackend.for_model(generator, cache_root=tmp_path)
    diff, scale, frames = compare_backends(
        generator, backend, SamplerConfig(schedule="realtime", nfe=3), blocks=2
    )
    assert frames == 20 and diff <= TOLERANCE * max(1.0, scale), (diff, scale)


def test_cache_reuses_an_export_and_tracks_the_weights(tmp_path: Path) -> None:
    generator = small_random_model().generator
    first = cached_export(generator, tmp_path)
    stamp = (first / MANIFEST_FILE).stat().st_mtime_ns
    assert cached_export(generator, tmp_path) == first  # reused, not exported again
    assert (first / MANIFEST_FILE).stat().st_mtime_ns == stamp
    assert read_manifest(first)["hash"] == graphs_hash(generator) == first.name
    with torch.no_grad():
        next(generator.parameters()).add_(0.01)
    assert graphs_hash(generator) != first.name
    with pytest.raises(ValueError, match="exported from other weights"):
        OnnxBackend.for_model(generator, onnx_dir=first)


def test_backend_selection() -> None:
    generator = small_random_model().generator
    assert isinstance(get_backend(generator), TorchBackend)
    assert StreamingSampler(generator).backend.name == "torch"
    assert use_backend(generator, "torch").name == "torch"
    with pytest.raises(ValueError, match="unknown backend"):
        use_backend(generator, "tensorrt")
    other = MotionGenerator(generator.config.replace(depth=2))

    class Fake:
        name = "fake"
        config = other.config

    with pytest.raises(ValueError, match="another architecture"):
        set_backend(generator, Fake())  # type: ignore[arg-type]


def test_missing_onnxruntime_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin_server.cli.options import apply_backend

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    generator = small_random_model().generator
    with pytest.raises(OnnxUnavailableError, match="pip install onnxruntime"):
        use_backend(generator, "onnx")
    message = apply_backend(generator, argparse.Namespace(backend="onnx", onnx_dir=None))
    assert message is not None and "pip install onnxruntime" in message
    assert isinstance(get_backend(generator), TorchBackend)


@pytest.mark.parametrize("command", ["animate", "bench", "serve"])
def test_cli_takes_backend(command: str) -> None:
    from plugin_server.cli import build_parser

    required = {"animate": ["--avatar-audio", "a.wav", "--out", "m.csv"], "bench": [], "serve": []}
    args = build_parser().parse_args([command, *required[command], "--backend", "onnx"])
    assert args.backend == "onnx"
    assert build_parser().parse_args([command, *required[command]]).backend == "torch"


def test_server_sessions_generate_on_the_attached_backend(
    tiny: tuple[MotionGenerator, OnnxBackend], tmp_path: Path
) -> None:
    """`serve --backend onnx` attaches the backend to the served model's generator: every session's
    blocks (batched or not) are evaluated by it."""
    import soundfile as sf

    from plugin_server.cli import main
    from tests.plugin_server.server.conftest import server_thread

    backend = tiny[1]
    model = small_random_model()  # same seed: the same weights as `tiny`, a model object of its own
    assert graphs_hash(model.generator) == backend.hash

    class Counting:
        name = "onnx"
        config = backend.config

        def __init__(self) -> None:
            self.calls = 0

        def condition_kv(self, cond):  # type: ignore[no-untyped-def]
            return backend.condition_kv(cond)

        def evaluate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            return backend.evaluate(*args, **kwargs)

    spy = Counting()
    set_backend(model.generator, spy)  # type: ignore[arg-type]
    wav = tmp_path / "voice.wav"
    sf.write(wav, speech(1.0, 16000), 16000)
    out = tmp_path / "motion.json"
    with server_thread(model) as server:
        assert main(["client", "--audio", str(wav), "--url", server.url, "--out", str(out)]) == 0
    assert out.exists() and spy.calls > 0


def test_the_export_cache_stays_bounded(tmp_path: Path) -> None:
    """Old exports are pruned when a new one is written; the recently used ones stay."""
    from models.generator.onnx_export import prune_cache

    for i in range(5):
        (tmp_path / f"export{i}").mkdir()
        os.utime(tmp_path / f"export{i}", (1000 + i, 1000 + i))
    (tmp_path / ".in-progress.tmp-1").mkdir()
    removed = prune_cache(tmp_path, keep=3, spare=tmp_path / "export0")
    assert sorted(p.name for p in removed) == ["export1", "export2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".in-progress.tmp-1",
        "export0",
        "export3",
        "export4",
    ]


def test_longer_condition_history_and_rotary_encoder_match_torch(tmp_path: Path) -> None:
    """`cond_context_frames` (the encoder reads 9 past frames, not the 2 of the context) and
    `cond_rope` (positions in the encoder's attentions): the condition graph takes windows whose
    length changes while the history fills, then stays; 12 blocks match torch."""
    generator = small_random_model().generator
    cfg = generator.config.replace(cond_context_frames=9, cond_rope=True)
    wide = MotionGenerator(cfg).eval()
    wide.load_state_dict(generator.state_dict())
    backend = OnnxBackend.for_model(wide, cache_root=tmp_path)
    diff, scale, frames = compare_backends(wide, backend, SamplerConfig(schedule="realtime"), blocks=12)
    assert frames == 48 and diff <= TOLERANCE * max(1.0, scale), (diff, scale)


def test_cross_position_bias_matches_torch(tmp_path: Path) -> None:
    """`cross_position_bias`: the step graph builds the bias from the mask's shape, which changes
    between the first block (no cached condition keys) and the later ones."""
    generator = small_random_model().generator
    biased = MotionGenerator(generator.config.replace(cross_position_bias=True)).eval()
    biased.load_state_dict(generator.state_dict(), strict=False)
    with torch.no_grad():
        for blk in biased.blocks:
            blk.cross_attn.position_bias.normal_(0.0, 1.0)
    backend = OnnxBackend.for_model(biased, cache_root=tmp_path)
    diff, scale, frames = compare_backends(biased, backend, SamplerConfig(schedule="realtime"), blocks=6)
    assert frames == 24 and diff <= TOLERANCE * max(1.0, scale), (diff, scale)
