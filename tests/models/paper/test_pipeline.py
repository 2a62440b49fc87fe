"""The paper's photoreal path streamed end to end (audio + user faces -> motion -> frames), on tiny
random weights in the official names, and the strict check of a weights folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("transformers", reason="transformers is not installed (the optional `paper` extra)")

from models.generator.masks import alignment_mask, block_causal_lookahead_mask
from models.paper.pipeline import PaperAvatar, PaperComponents, stream_recording, to_model_images
from models.paper.weights_folder import (
    PaperConfig,
    PaperWeightsError,
    check_weights_folder,
    placeholder_state_dict,
    write_random_weights_folder,
)
from plugin_server.cli import main
from plugin_server.cli import paper as paper_cli
from tests.helpers import speech

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
MANIFEST = SHARED / "reference" / "official_checkpoint_manifest.json"
TINY = PaperConfig.tiny()
RELEASE = "the official Avatar Forcing release (its README lists the download links)"
WAV2VEC2_URL = "https://huggingface.co/facebook/wav2vec2-base-960h"
ALL_FILES = [
    "flow_transformer.pth",
    "motion_autoencoder.pth",
    "audio_encoder.pth",
    "wav2vec2-base-960h/config.json",
    "wav2vec2-base-960h/model.safetensors (or pytorch_model.bin)",
]


def image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def components() -> PaperComponents:
    return PaperComponents.random(TINY, seed=0)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_weights_folder(tmp_path_factory.mktemp("paper") / "weights", TINY, seed=0)


def new_avatar(components: PaperComponents, seed: int = 0, **kwargs: object) -> PaperAvatar:
    avatar = PaperAvatar(components, seed=seed, **kwargs)  # type: ignore[arg-type]
    avatar.set_portrait(image(48, 40, seed=1))
    return avatar


# -- streaming ------------------------------------------------------------------------------------


def test_one_second_streams_to_25_frames(components: PaperComponents) -> None:
    avatar = new_avatar(components)
    crops = np.stack([image(36, 36, seed=10 + k) for k in range(3)])  # (3, 36, 36, 3) face crops
    blocks = list(stream_recording(avatar, speech(1.0, 24000), 24000, user_frames=crops))
    assert [len(m) for m, _ in blocks] == [10, 10, 5]  # 10-frame blocks, the last one partial
    motion = np.concatenate([m for m, _ in blocks])
    frames = np.concatenate([f for _, f in blocks])  # type: ignore[misc]
    assert motion.shape == (25, 32) and np.isfinite(motion).all()
    assert frames.shape == (25, 32, 32, 3) and frames.dtype == np.uint8
    change = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))  # (24,)
    assert (change > 0).all()  # every frame differs from the one before
    assert avatar.frames_out == 25


def test_live_pushes_release_a_block_only_when_its_conditions_are_in(components: PaperComponents) -> None:
    avatar = new_avatar(components)
    voice = speech(0.6, 16000)  # 15 frames at 16 kHz
    avatar.push_avatar_audio(voice[:4000], 16000)  # 6.25 frames: not a block yet
    avatar.push_user_audio(np.zeros(8000, np.float32), 16000)
    assert avatar.step() is None
    avatar.push_avatar_audio(voice[4000:], 16000)
    avatar.push_user_frames(np.stack([image(40, 40, seed=3)] * 4))  # 4 user frames, 25 fps
    assert avatar.step() is None  # the user motion covers 4 of the 10 frames
    avatar.fill_silence(10)  # no more webcam frames: the last user motion is held
    frames = avatar.step()
    assert frames is not None and frames.shape == (10, 32, 32, 3)
    assert avatar.step() is None


def test_the_portrait_is_encoded_once(components: PaperComponents, monkeypatch: pytest.MonkeyPatch) -> None:
    ae = components.autoencoder
    calls = {"encode": 0, "encode_motion": 0}
    for name in calls:
        original = getattr(ae, name)

        def counted(*args: object, _name: str = name, _f: object = original) -> object:
            calls[_name] += 1
            return _f(*args)  # type: ignore[operator]

        monkeypatch.setattr(ae, name, counted)
    avatar = new_avatar(components)
    assert calls == {"encode": 1, "encode_motion": 0}
    crops = np.stack([image(32, 32, seed=k) for k in range(12)])
    list(stream_recording(avatar, speech(0.8, 16000), 16000, user_frames=crops))
    assert calls["encode"] == 1  # only user motion is encoded while streaming
    assert calls["encode_motion"] >= 1


def test_user_faces_become_motion_latents_and_the_neutral_user_is_zeros(components: PaperComponents) -> None:
    avatar = new_avatar(components)
    crops = np.stack([image(40, 40, seed=k) for k in range(3)])
    avatar.push_user_frames(crops)
    ae = components.autoencoder
    with torch.inference_mode():
        want = ae.motion_latent(ae.encode_motion(to_model_images(crops, 32)))  # (3, 32)
    got = torch.cat(avatar.conditions._motion)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    fresh = new_avatar(components)
    fresh.fill_silence(4)
    assert torch.equal(torch.cat(fresh.conditions._motion), torch.zeros(4, 32))  # the null user motion
    ref = fresh.reference_motion
    assert ref.shape == (1, 32) and ref.abs().sum() > 0


def test_block_decode_equals_frame_by_frame_decode(components: PaperComponents) -> None:
    avatar = new_avatar(components)
    avatar.push_avatar_audio(speech(0.5, 16000), 16000)
    avatar.fill_silence(10)
    motion = avatar.step_motion()
    assert motion is not None and motion.shape == (10, 32)
    source, ae = avatar.source, components.autoencoder
    assert source is not None
    with torch.inference_mode():
        batched = ae.decode(source.identity, source.feats, motion)  # (10, 3, 32, 32), one call
        single = torch.cat([ae.decode(source.identity, source.feats, m[None]) for m in motion])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-4)  # float32 batching noise
    one_by_one = PaperAvatar(components, decode_chunk=1)
    one_by_one.source = source
    diff = avatar.decode(motion).astype(np.int16) - one_by_one.decode(motion).astype(np.int16)
    assert np.abs(diff).max() <= 1


def test_a_seeded_stream_repeats_and_the_folder_loads_the_same_weights(
    components: PaperComponents, tiny_folder: Path
) -> None:
    voice = speech(0.5, 16000)
    runs = []
    for comp in (components, components, PaperComponents.from_folder(tiny_folder, TINY)):
        runs.append(np.concatenate([m for m, _ in stream_recording(new_avatar(comp, seed=5), voice, 16000)]))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_allclose(runs[2], runs[0], atol=1e-5)  # same seeds, written and read back


# -- the weights folder ---------------------------------------------------------------------------


def test_an_empty_folder_lists_every_file_and_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(PaperWeightsError) as e:
        check_weights_folder(tmp_path)
    assert e.value.missing_files == ALL_FILES
    message = str(e.value)
    assert message.count(RELEASE) == 3 and message.count(WAV2VEC2_URL) == 2
    assert e.value.problems == []


def paper_size_folder(folder: Path, drop: tuple[str, ...] = ()) -> Path:
    """The paper-size names and shapes from the manifest, as stride-0 placeholders (kilobytes)."""
    if not MANIFEST.exists():
        pytest.skip(f"manifest not found at {MANIFEST}")
    entries = {k: tuple(v) for k, v in json.loads(MANIFEST.read_text())["entries"].items() if k not in drop}
    folder.mkdir(parents=True, exist_ok=True)
    flow = placeholder_state_dict(
        {k: v for k, v in entries.items() if not k.startswith("motion_autoencoder.")}
    )
    for name, mask in (
        ("alignment_mask", alignment_mask(50, 50, 2)),
        ("block_bidir_causal_lookahead_mask", block_causal_lookahead_mask(50, 10, 2)),
    ):
        if "flow_transformer." + name in flow:
            flow["flow_transformer." + name] = mask
    torch.save(flow, folder / "flow_transformer.pth")
    ae = {k.split(".", 1)[1]: v for k, v in entries.items() if k.startswith("motion_autoencoder.")}
    torch.save(placeholder_state_dict(ae), folder / "motion_autoencoder.pth")  # bare names
    (folder / "wav2vec2-base-960h").mkdir(exist_ok=True)
    (folder / "wav2vec2-base-960h" / "config.json").write_text("{}")
    (folder / "wav2vec2-base-960h" / "model.safetensors").write_bytes(b"")
    return folder


def test_a_complete_paper_size_folder_passes_the_check(tmp_path: Path) -> None:
    weights = check_weights_folder(paper_size_folder(tmp_path / "w"))
    assert weights.flow_transformer.name == "flow_transformer.pth"
    assert weights.audio_projection == weights.flow_transformer  # inside the combined checkpoint
    assert weights.motion_autoencoder.name == "motion_autoencoder.pth"
    assert weights.wav2vec2.name == "wav2vec2-base-960h"


def test_incomplete_paper_size_checkpoints_are_refused_with_the_missing_names(tmp_path: Path) -> None:
    drop = (
        "flow_transformer.blocks.3.mlp.fc2.weight",
        "motion_autoencoder.dec.direction.weight",
        "audio_encoder.audio_projection.1.bias",
    )
    folder = paper_size_folder(tmp_path / "w", drop)
    (folder / "wav2vec2-base-960h" / "model.safetensors").unlink()
    with pytest.raises(PaperWeightsError) as e:
        check_weights_folder(folder)
    assert e.value.missing_files == ["wav2vec2-base-960h/model.safetensors (or pytorch_model.bin)"]
    problems = "\n".join(e.value.problems)
    assert len(e.value.problems) == 3
    for name in drop:
        assert f"missing: {name}" in problems
    assert problems.count("missing:") == 3


def test_a_flow_checkpoint_without_the_projection_asks_for_audio_encoder_pth(tmp_path: Path) -> None:
    drop = tuple(f"audio_encoder.audio_projection.{i}.{p}" for i in (0, 1) for p in ("weight", "bias"))
    folder = paper_size_folder(tmp_path / "w", drop)
    with pytest.raises(PaperWeightsError) as e:
        check_weights_folder(folder)
    assert e.value.missing_files == ["audio_encoder.pth"] and e.value.problems == []


# -- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["demo", "animate"])
def test_cli_refuses_an_empty_weights_folder_with_the_list(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sf.write(tmp_path / "a.wav", speech(0.3, 16000), 16000)
    args = [
        command,
        "--preset",
        "paper",
        "--weights",
        str(tmp_path / "empty"),
        "--avatar-audio",
        str(tmp_path / "a.wav"),
    ]
    args += ["--out", str(tmp_path / ("out.mp4" if command == "demo" else "out.npy"))]
    assert main(args) == 2
    err = capsys.readouterr().err
    for name in ALL_FILES:
        assert name in err
    assert RELEASE in err and WAV2VEC2_URL in err


def test_cli_animate_and_demo_on_a_tiny_folder(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("av", reason="the render extra is needed for the MP4")
    pytest.importorskip("skia", reason="the render extra is needed to read the portrait")
    monkeypatch.setattr(paper_cli, "CONFIG", TINY)
    sf.write(tmp_path / "a.wav", speech(0.8, 22050), 22050)
    common = ["--preset", "paper", "--weights", str(tiny_folder), "--avatar-audio", str(tmp_path / "a.wav")]
    assert main(["animate", *common, "--out", str(tmp_path / "m.csv")]) == 2  # latents are .npy only
    assert main(["animate", *common, "--out", str(tmp_path / "m.npy")]) == 0
    motion = np.load(tmp_path / "m.npy")
    assert motion.shape == (20, 32) and motion.dtype == np.float32
    assert main(["demo", *common, "--out", str(tmp_path / "d.mp4")]) == 0
    from models.render.video import read_mp4

    frames, audio, fps, rate = read_mp4(tmp_path / "d.mp4")
    assert frames.shape == (20, 32, 32, 3) and fps == 25 and rate == 48000 and len(audio) > 0


def test_cli_paper_path_on_the_onnx_backend(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--backend onnx` runs the paper generator's step and its decoder on onnxruntime and gives
    the torch path's latents (within the backends' tolerance)."""
    pytest.importorskip("onnx", reason="the onnx extra is needed: pip install -e .[onnx]")
    pytest.importorskip("onnxruntime", reason="the onnx extra is needed: pip install -e .[onnx]")
    pytest.importorskip("skia", reason="the render extra is needed to read the portrait")
    monkeypatch.setattr(paper_cli, "CONFIG", TINY)
    monkeypatch.setenv("AVATAR_FORCING_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    sf.write(tmp_path / "a.wav", speech(0.8, 22050), 22050)
    common = ["--preset", "paper", "--weights", str(tiny_folder), "--avatar-audio", str(tmp_path / "a.wav")]
    assert main(["animate", *common, "--out", str(tmp_path / "torch.npy")]) == 0
    assert main(["animate", *common, "--backend", "onnx", "--out", str(tmp_path / "onnx.npy")]) == 0
    a, b = np.load(tmp_path / "torch.npy"), np.load(tmp_path / "onnx.npy")
    assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max()))


def test_cli_user_video_becomes_the_users_motion(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--user-video`: the user's face on camera, read at 25 fps and encoded by the motion encoder,
    conditions the avatar (the output differs from a neutral user's); a bad file is refused."""
    pytest.importorskip("av", reason="the render extra is needed to read video")
    pytest.importorskip("skia", reason="the render extra is needed to read the portrait")
    from models.render.video import Mp4Writer

    monkeypatch.setattr(paper_cli, "CONFIG", TINY)
    sf.write(tmp_path / "a.wav", speech(0.8, 22050), 22050)
    rng = np.random.default_rng(0)
    with Mp4Writer(tmp_path / "face.mp4", 48, 48, 25, audio=False) as video:
        for k in range(20):  # a moving blob standing in for a face
            image = np.full((48, 48, 3), 60, np.uint8)
            image[10 + k % 8 : 30 + k % 8, 12:36] = rng.integers(120, 255, 3, dtype=np.uint8)
            video.write_frame(image)
    common = ["--preset", "paper", "--weights", str(tiny_folder), "--avatar-audio", str(tmp_path / "a.wav")]
    assert main(["animate", *common, "--out", str(tmp_path / "neutral.npy")]) == 0
    video_args = ["--user-video", str(tmp_path / "face.mp4")]
    assert main(["animate", *common, *video_args, "--out", str(tmp_path / "watched.npy")]) == 0
    neutral, watched = np.load(tmp_path / "neutral.npy"), np.load(tmp_path / "watched.npy")
    assert neutral.shape == watched.shape and np.abs(neutral - watched).max() > 1e-4
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    bad_args = ["--user-video", str(tmp_path / "bad.mp4")]
    assert main(["animate", *common, *bad_args, "--out", str(tmp_path / "x.npy")]) == 2


def test_cli_device_choice(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--device cpu runs; a device this torch lacks is refused with the fix (CUDA on a CPU build)."""
    monkeypatch.setattr(paper_cli, "CONFIG", TINY)
    sf.write(tmp_path / "a.wav", speech(0.4, 16000), 16000)
    common = ["--preset", "paper", "--weights", str(tiny_folder), "--avatar-audio", str(tmp_path / "a.wav")]
    assert main(["animate", *common, "--device", "cpu", "--out", str(tmp_path / "m.npy")]) == 0
    assert main(["animate", *common, "--device", "tpu9", "--out", str(tmp_path / "x.npy")]) == 2
    assert "unknown device 'tpu9'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["animate", *common, "--device", "cuda", "--out", str(tmp_path / "x.npy")]) == 2
        assert "no usable CUDA" in capsys.readouterr().err
