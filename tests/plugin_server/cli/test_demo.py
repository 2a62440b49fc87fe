"""`avatar-forcing demo`: an MP4 with sound, from the bundled sample or given recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.bundle import AvatarForcingModel
from plugin_server.cli import main
from tests.helpers import small_random_model, speech

pytest.importorskip("skia", reason="the render extra is needed: pip install -e .[render]")
pytest.importorskip("av", reason="the render extra is needed: pip install -e .[render]")
from models.render.encode import decode_image
from models.render.video import read_mp4


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "model.pt"
    model: AvatarForcingModel = small_random_model()
    model.save(path)
    return path


def test_demo_writes_a_video_with_both_voices(tmp_path: Path, model_path: Path) -> None:
    rate = 16000
    voice = np.concatenate([speech(1.2, rate), np.zeros(int(0.8 * rate), np.float32)])
    user = np.concatenate([np.zeros(int(1.0 * rate), np.float32), 0.5 * speech(1.0, rate, seed=2)])
    sf.write(tmp_path / "a.wav", voice, rate)
    sf.write(tmp_path / "u.wav", user, rate)
    out = tmp_path / "demo.mp4"
    still = tmp_path / "still.png"
    code = main(
        [
            "demo", "--avatar-audio", str(tmp_path / "a.wav"), "--user-audio", str(tmp_path / "u.wav"),
            "--model", str(model_path), "--size", "96", "--out", str(out), "--still", f"0.6:{still}",
        ]
    )  # fmt: skip
    assert code == 0
    frames, audio, fps, audio_rate = read_mp4(out)
    assert fps == 25 and frames.shape == (50, 96, 96, 3)  # no user motion: the avatar alone
    assert audio_rate == 48000 and abs(len(audio) / audio_rate - 2.0) < 0.1
    loud = lambda a, b: float(np.sqrt(np.mean(audio[int(a * 48000) : int(b * 48000)] ** 2)))  # noqa: E731
    assert loud(0.2, 0.9) > 0.05 and loud(1.3, 1.9) > 0.02  # the avatar's voice, then the user's
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).max() > 40  # the face moves
    image = decode_image(still.read_bytes())
    assert image.shape == (96, 96, 4) and image[0, 0, 3] == 0 and image[48, 48, 3] == 255


def test_demo_conversation_layout_from_the_bundled_sample_and_errors(
    tmp_path: Path, model_path: Path
) -> None:
    out = tmp_path / "conv.mp4"
    assert main(["demo", "--model", str(model_path), "--size", "64", "--out", str(out)]) == 0
    frames = read_mp4(out)[0]
    assert frames.shape == (300, 64, 128, 3)  # the 12-s sample: the user beside the avatar
    assert main(["demo", "--renderer", "nope", "--out", str(out)]) == 2
    assert main(["demo", "--renderer", "cartoon:skin=blue", "--out", str(out)]) == 2
    assert main(["demo", "--still", "soon", "--out", str(out)]) == 2
    assert main(["demo", "--avatar-audio", str(tmp_path / "missing.wav"), "--out", str(out)]) == 2
