"""`serve --preset paper`: live paper sessions over a real websocket (tiny random paper networks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.paper.pipeline import PaperComponents
from models.paper.weights_folder import PaperConfig
from models.render.encode import decode_image
from plugin_server.protocol import Config, Error, RenderedFrame, UserVideo, decode_pcm
from plugin_server.server import ServerConfig
from plugin_server.server.client import AvatarClient, stream_audio
from plugin_server.server.paper import PaperServer
from plugin_server.session.paper import PaperServeSpec

from .conftest import ROOT, run, speech

FPS = 25


@pytest.fixture(scope="module")
def spec() -> PaperServeSpec:
    components = PaperComponents.random(PaperConfig.tiny(), seed=0)
    portrait = (np.random.default_rng(0).random((48, 40, 3)) * 255).astype(np.uint8)
    return PaperServeSpec.create(components, portrait)


def test_paper_session_streams_frames_and_audio(spec: PaperServeSpec) -> None:
    size = spec.size
    face = (np.random.default_rng(1).random((24, 24, 3)) * 255).astype(np.uint8)
    cues = [
        (0.1 + 0.04 * k, UserVideo(seq=k, width=24, height=24, format="rgb24", data=face.tobytes()))
        for k in range(5)
    ]

    async def main() -> tuple[object, list[object], object]:
        server = PaperServer(spec, ServerConfig(port=0))
        await server.start()
        try:
            async with AvatarClient(server.url) as client:
                welcome = await client.connect()
                # the motion space is the autoencoder's latents: the `motion` output is refused
                await client.send(Config(id=client.next_id(), config={"outputs": ["motion", "audio"]}))
                refused = await client.recv(10.0)
                # no jaw or lips in the latents: a separate user guidance for them is refused
                await client.send(Config(id=client.next_id(), config={"u_cfg_speech": 0.0}))
                no_speech = await client.recv(10.0)
                await client.send(Config(id=client.next_id(), config={"a_cfg_speech": 3.0}))
                no_audio_speech = await client.recv(10.0)
                result = await stream_audio(
                    server.url,
                    (speech(1.0, 16000), 16000),
                    (speech(1.0, 16000, seed=1) * 0.3, 16000),
                    config={"outputs": ["frames", "audio"], "seed": 0},
                    cues=cues,
                    tail_s=0.5,
                    client=client,
                )
                await client.bye()
            health = server.health()
        finally:
            await server.stop()
        return welcome, [refused, no_speech, no_audio_speech, result], health

    welcome, (refused, no_speech, no_audio_speech, result), health = run(main(), timeout=60.0)
    assert welcome.fps == FPS  # type: ignore[attr-defined]
    caps = welcome.capabilities  # type: ignore[attr-defined]
    assert "output:frames" in caps and "input:user_video" in caps and "output:motion" not in caps
    assert "motion" not in welcome.config["outputs"]  # type: ignore[attr-defined]
    assert isinstance(refused, Error) and refused.code == "unsupported"
    assert isinstance(no_speech, Error) and no_speech.code == "bad_config"
    assert "u_cfg_speech" in no_speech.message
    assert isinstance(no_audio_speech, Error) and "a_cfg_speech" in no_audio_speech.message
    assert "latents" in refused.message and "frames" in refused.message
    assert health["preset"] == "paper"  # type: ignore[index]

    assert not result.errors, result.errors  # type: ignore[attr-defined]
    assert not result.motion  # type: ignore[attr-defined]
    frames = result.of(RenderedFrame)  # type: ignore[attr-defined]
    assert len(frames) >= 20  # 1.5 s of clock: blocks of 10 frames due at 0.4, 0.8, 1.2 s
    numbers = [f.frame for f in frames]
    assert numbers == list(range(len(frames)))
    for f in frames:
        assert (f.width, f.height, f.format) == (size, size, "png")
        assert f.t == pytest.approx(f.frame / FPS)
    image = decode_image(frames[-1].data)
    assert image.shape == (size, size, 4)
    audio = result.avatar_audio  # type: ignore[attr-defined]
    assert [a.frame for a in audio] == list(range(0, 10 * len(audio), 10))
    assert all(a.frames == 10 and a.t == pytest.approx(a.frame / FPS) for a in audio)
    assert len(audio) * 10 >= len(frames)
    voice = np.concatenate([decode_pcm(a.data, a.format, a.channels) for a in audio])
    assert np.abs(voice).max() > 0.05  # the avatar's voice comes back with its frames


def _serve(*extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "plugin_server", "serve", "--preset", "paper", "--port", "0", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_serve_paper_refuses_an_empty_weights_folder(tmp_path: Path) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    done = _serve("--weights", str(empty))
    assert done.returncode == 2, done.stderr
    assert "flow_transformer.pth" in done.stderr and "motion_autoencoder.pth" in done.stderr


def test_serve_paper_refuses_arkit_sinks(tmp_path: Path) -> None:
    done = _serve("--weights", str(tmp_path), "--sink", "vmc")
    assert done.returncode == 2, done.stderr
    assert "vmc" in done.stderr and "ARKit" in done.stderr


def test_paper_session_takes_user_video_and_refuses_user_motion(spec: PaperServeSpec) -> None:
    from models.render import encode_image
    from plugin_server.protocol import Audio, UserMotion, encode_pcm
    from plugin_server.session.paper import PaperSession

    session = PaperSession("s", spec, 0.0)
    face = (np.random.default_rng(2).random((20, 30, 3)) * 255).astype(np.uint8)
    png = encode_image(np.concatenate([face, np.full((20, 30, 1), 255, np.uint8)], axis=2), "png")
    pcm = encode_pcm(speech(0.5, 16000), "s16le")
    assert not session.handle(Audio(id=1, stream="avatar", seq=0, format="s16le", rate=16000, data=pcm), 0.0)
    for seq, (fmt, data) in enumerate([("rgb24", face.tobytes()), ("png", png)]):
        msg = UserVideo(id=2 + seq, seq=seq, width=30, height=20, format=fmt, data=data)
        assert not session.handle(msg, 0.0)
    (refused,) = session.handle(UserMotion(id=9, seq=0, frames=[[0.0] * 58]), 0.0)
    assert isinstance(refused, Error) and refused.code == "unsupported"
    out = session.tick(0.45)  # the first 10-frame block: the two faces encoded to user motion latents
    assert [m.frame for m in out if isinstance(m, RenderedFrame)] == list(range(10))
    assert session.user_motion_dropped == 0 and not session._video_q and not session._motion_q
    held = session._last_user
    assert held.shape == (spec.dim,) and np.abs(held).sum() > 0  # the last face is held, not the null
    session.close()


def test_serve_server_loads_a_weights_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --preset paper --weights DIR --portrait PHOTO` builds a PaperServer (tiny geometry)."""
    import argparse

    from models.paper.weights_folder import write_random_weights_folder
    from models.render import encode_image
    from plugin_server.cli import paper, serve

    config = PaperConfig.tiny()
    monkeypatch.setattr(paper, "CONFIG", config)
    folder = write_random_weights_folder(tmp_path / "weights", config)
    photo = tmp_path / "me.png"
    photo.write_bytes(encode_image(np.full((40, 40, 4), 200, np.uint8), "png"))
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--preset", "paper", "--weights", str(folder), "--portrait", str(photo)])
    server = paper.serve_server(args, ServerConfig(port=0), [])
    assert isinstance(server, PaperServer) and server.spec.size == config.autoencoder.size
    with pytest.raises(ValueError, match="--mic"):
        paper.serve_server(parser.parse_args(["--preset", "paper", "--mic"]), ServerConfig(), [])
