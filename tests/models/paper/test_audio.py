"""The paper's wav2vec2 audio path: shapes, official projection names, strict loading, causal stream.

wav2vec2 runs with random weights (nothing can be downloaded); the real wav2vec2-base-960h is only
needed for meaningful features, not for any property tested here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers", reason="transformers is not installed (the optional `paper` extra)")

from models.paper import (
    AudioProjection,
    AudioProjectionCheckpointError,
    CausalWav2Vec2Stream,
    Wav2Vec2Features,
    Wav2Vec2FolderError,
    load_audio_projection,
)
from models.paper.audio import (
    FEATURE_DIM,
    PREFIX,
    SAMPLES_PER_FRAME,
    encode_offline,
    expected_projection_shapes,
    num_frames,
    random_audio_projection,
)

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
MANIFEST = SHARED / "reference" / "official_checkpoint_manifest.json"


@pytest.fixture(scope="module")
def base() -> Wav2Vec2Features:
    """The base architecture (12 x 768, ~94 M parameters), random weights."""
    return Wav2Vec2Features.from_config(seed=0)


@pytest.fixture(scope="module")
def small() -> Wav2Vec2Features:
    """Two transformer layers: same conv front end and 25-fps path, for the quick stream tests."""
    return Wav2Vec2Features.from_config(seed=1, num_hidden_layers=2)


def speechlike(n: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated tones plus noise: not stationary, so the window statistics matter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t) ** 2
    tones = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 730 * t)
    x = env * tones + 0.05 * rng.standard_normal(n)
    return (0.3 * x).astype(np.float32)


def stream_all(stream: CausalWav2Vec2Stream, audio: np.ndarray, chunk: int) -> np.ndarray:
    outs = [stream.push(audio[i : i + chunk]) for i in range(0, audio.size, chunk)]
    outs.append(stream.flush())
    return np.concatenate(outs)


# -- wav2vec2 features --------------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [1, 399, 640, 641, 1000, 5 * 640 + 17, 8000])
def test_base_features_are_12_layers_at_25_fps(base: Wav2Vec2Features, samples: int) -> None:
    x = torch.from_numpy(np.stack([speechlike(samples, 0), speechlike(samples, 1)]))  # (2, N)
    out = base(x)
    assert out.shape == (2, math.ceil(samples / 640), FEATURE_DIM) == (2, num_frames(samples), 9216)
    assert torch.isfinite(out).all()
    # the rows of a batch are independent: row 1 alone gives the same features
    torch.testing.assert_close(base(x[1]), out[1:], atol=1e-4, rtol=1e-4)


def test_empty_clip_gives_no_frames(base: Wav2Vec2Features) -> None:
    assert base(torch.zeros(1, 0)).shape == (1, 0, FEATURE_DIM)


def test_interpolation_is_every_other_conv_frame(small: Wav2Vec2Features) -> None:
    """Padded to T * 640 samples the conv encoder gives 2T - 1 frames at 50 fps, and linear
    interpolation with aligned corners to T frames picks frames 0, 2, ..., 2T - 2: the 25-fps grid
    does not depend on the clip's length, which lets the stream cut windows anywhere on it."""
    x, frames = small.prepare(torch.from_numpy(speechlike(7 * 640 + 100))[None])
    assert frames == 8 and x.shape == (1, 8 * SAMPLES_PER_FRAME)
    with torch.inference_mode():
        conv = small.model.feature_extractor(x)  # (1, 512, 15): no hook outside forward()
        assert conv.shape[-1] == 2 * frames - 1
        lerp = F.interpolate(conv, size=frames, mode="linear", align_corners=True)
    torch.testing.assert_close(lerp, conv[..., ::2], atol=1e-6, rtol=1e-6)


def test_folder_missing_or_incomplete_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "wav2vec2-base-960h"
    with pytest.raises(Wav2Vec2FolderError) as err:
        Wav2Vec2Features.from_pretrained(missing)
    text = str(err.value)
    for needle in ("config.json", "pytorch_model.bin", "model.safetensors", "facebook/wav2vec2-base-960h"):
        assert needle in text
    missing.mkdir()
    (missing / "config.json").write_text("{}")
    with pytest.raises(Wav2Vec2FolderError, match="lacks the weights") as err:
        Wav2Vec2Features.from_pretrained(missing)
    assert "config.json" not in err.value.missing[0]


def test_loads_a_local_transformers_folder(tmp_path: Path) -> None:
    """A folder as the hub stores wav2vec2-base-960h (a CTC checkpoint: config + weights + lm_head),
    loaded offline; here a 2-layer random one saved by transformers itself."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    torch.manual_seed(3)
    ctc = Wav2Vec2ForCTC(Wav2Vec2Config(num_hidden_layers=2, vocab_size=32)).eval()
    ctc.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    loaded = Wav2Vec2Features.from_pretrained(tmp_path)
    assert loaded.normalize is False and loaded.feature_dim == 2 * 768
    reference = Wav2Vec2Features(ctc.wav2vec2, normalize=False)
    x = torch.from_numpy(speechlike(3000))
    torch.testing.assert_close(loaded(x), reference(x))


# -- projection: official names and strict loading -------------------------------------------------


def official_projection_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) for k, shape in expected_projection_shapes().items()}


def test_projection_names_match_the_official_manifest() -> None:
    if not MANIFEST.exists():
        pytest.skip(f"manifest not found at {MANIFEST}")
    entries = json.loads(MANIFEST.read_text())["entries"]
    official = {k: tuple(v) for k, v in entries.items() if k.startswith(PREFIX)}
    ours = {PREFIX + k: tuple(v.shape) for k, v in AudioProjection().state_dict().items()}
    assert ours == official


def test_projection_loads_combined_bare_wrapped_and_from_disk(tmp_path: Path) -> None:
    state = official_projection_state()
    combined = {**state, "flow_transformer.x_embedder.proj.weight": torch.zeros(2, 2)}
    combined["audio_encoder.wav2vec2.encoder.layer_norm.weight"] = torch.ones(768)  # a copy: ignored
    bare = {k[len(PREFIX) :]: v for k, v in state.items()}
    torch.save({"state_dict": combined}, tmp_path / "avatar_forcing.pth")
    for source in (combined, bare, {"model": bare}, tmp_path / "avatar_forcing.pth", tmp_path):
        proj = load_audio_projection(source)
        torch.testing.assert_close(
            proj.audio_projection[0].weight, state[PREFIX + "audio_projection.0.weight"]
        )
        assert not proj.training
    y = proj(torch.randn(2, 3, FEATURE_DIM))
    assert y.shape == (2, 3, 512) and (y > -0.28).all()  # SiLU's minimum is about -0.278


def test_projection_loading_is_strict() -> None:
    state = official_projection_state()
    del state["audio_encoder.audio_projection.1.bias"]
    with pytest.raises(
        AudioProjectionCheckpointError, match=r"missing: audio_encoder\.audio_projection\.1\.bias"
    ):
        load_audio_projection(state)
    state = official_projection_state()
    state["audio_encoder.audio_projection.0.weight"] = torch.zeros(512, 768)
    with pytest.raises(AudioProjectionCheckpointError, match=r"audio_projection\.0\.weight is \[512, 768\]"):
        load_audio_projection(state)
    state = official_projection_state()
    state["audio_encoder.audio_projection.2.weight"] = torch.zeros(1)
    with pytest.raises(
        AudioProjectionCheckpointError, match=r"unexpected: audio_encoder\.audio_projection\.2"
    ):
        load_audio_projection(state)


# -- causal stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "chunk"), [(1, 1), (639, 100), (641, 320), (9 * 640 + 5, 333), (12000, 2560)]
)
def test_stream_gives_as_many_frames_as_offline(small: Wav2Vec2Features, samples: int, chunk: int) -> None:
    audio = speechlike(samples)
    stream = CausalWav2Vec2Stream(small, None, context_s=0.2, lookahead_s=0.04, hop_frames=3)
    out = stream_all(stream, audio, chunk)
    assert out.shape == (num_frames(samples), small.feature_dim) == encode_offline(small, None, audio).shape
    assert stream.samples_received == 0  # flush resets the stream


def test_stream_with_whole_clip_context_equals_offline(base: Wav2Vec2Features) -> None:
    """With the context and the look-ahead both covering the clip, every window is the whole clip, so
    the stream runs the offline computation itself (once, at flush) and returns its frames: equal to
    the offline features up to float rounding (the tolerance covers other thread counts/kernels;
    here they agree to the bit). The projection is applied per frame, so it cannot differ either."""
    audio = speechlike(25 * 640 + 300)  # 1.02 s, 26 frames
    projection = random_audio_projection(0)
    offline = encode_offline(base, projection, audio)  # (26, 512)
    stream = CausalWav2Vec2Stream(base, projection, context_s=60.0, lookahead_s=60.0, hop_frames=4)
    out = stream_all(stream, audio, 1000)
    assert out.shape == offline.shape == (26, 512)
    np.testing.assert_allclose(out, offline, atol=1e-5, rtol=1e-5)


def test_stream_is_causal_and_independent_of_chunking(small: Wav2Vec2Features) -> None:
    audio = speechlike(40 * 640)
    kwargs = {"context_s": 0.4, "lookahead_s": 0.04, "hop_frames": 4}
    reference = stream_all(CausalWav2Vec2Stream(small, None, **kwargs), audio, 640)
    for chunk in (160, 2999, audio.size):
        np.testing.assert_array_equal(
            stream_all(CausalWav2Vec2Stream(small, None, **kwargs), audio, chunk), reference
        )
    # new audio after sample 20 * 640 cannot change the frames already returned by then
    stream = CausalWav2Vec2Stream(small, None, **kwargs)
    early = stream.push(audio[: 20 * 640])
    assert early.shape[0] == 16 and stream.frames_emitted == 16  # frames 16..19 wait for frame 20
    changed = audio.copy()
    changed[20 * 640 :] = speechlike(20 * 640, seed=7)
    np.testing.assert_array_equal(
        stream_all(CausalWav2Vec2Stream(small, None, **kwargs), changed, 640)[:16], early
    )
    # it is not the offline computation, though: the window hides the future
    offline = encode_offline(small, None, audio)
    assert not np.allclose(reference, offline, atol=1e-3)


def test_stream_reset_and_input_checks(small: Wav2Vec2Features) -> None:
    stream = CausalWav2Vec2Stream(small, None, context_s=0.1, lookahead_s=0.0, hop_frames=2)
    assert stream.latency_s == (0.0, 0.04) and stream.window_frames == 5
    audio = speechlike(10 * 640)
    first = stream.push(audio)
    stream.reset()
    assert stream.frames_emitted == 0
    np.testing.assert_array_equal(stream.push(audio), first)
    as_int16 = stream_all(CausalWav2Vec2Stream(small, None), (audio * 32767).astype(np.int16), 640)
    assert as_int16.shape == (10, small.feature_dim)
    with pytest.raises(ValueError, match="1-D"):
        stream.push(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        stream.push(np.array([np.nan], np.float32))
    with pytest.raises(ValueError, match="expects 9216 features"):
        CausalWav2Vec2Stream(small, AudioProjection())
