"""One realistic instance of every protocol message (shared by the codec and session tests)."""

from __future__ import annotations

import numpy as np

from plugin_server.protocol import (
    Ack,
    Audio,
    AvatarAudio,
    Bye,
    Config,
    Control,
    Error,
    Hello,
    Limits,
    Message,
    Motion,
    RenderedFrame,
    SessionConfig,
    Stats,
    Turn,
    TurnEvent,
    UserMotion,
    UserVideo,
    Welcome,
    encode_pcm,
)


def examples() -> list[Message]:
    pcm = encode_pcm(np.sin(np.arange(480) / 5.0) * 0.3, "s16le")
    stereo = encode_pcm(np.zeros((441, 2), np.float32) + 0.25, "f32le")
    return [
        Hello(id=1, version=1, capabilities=["msgpack"], client="test/1", resume=None),
        Hello(version=1, resume="abc"),
        Config(id=2, config={"naming": "vts", "nfe": 6, "blink": {"rate": 2.0}, "outputs": ["motion"]}),
        Control(id=3, action="pause"),
        Control(action="reset"),
        Audio(id=4, stream="avatar", seq=0, format="s16le", rate=24000, data=pcm),
        Audio(stream="user", seq=7, format="f32le", rate=44100, channels=2, data=stereo),
        UserMotion(id=5, seq=0, frames=[[0.1] * 58, [0.2] * 58]),
        UserMotion(seq=1, frames=[[0.5, -3.0]], names=["jawOpen", "HeadYaw"]),
        UserVideo(id=6, seq=0, width=2, height=2, format="rgb24", data=bytes(range(12))),
        UserVideo(seq=1, width=64, height=48, format="jpeg", data=b"\xff\xd8\xff\xe0 not really"),
        Turn(id=7, event="interrupt"),
        Turn(event="user_start"),
        Bye(id=8),
        Welcome(
            version=1,
            session_id="s1",
            resumed=False,
            capabilities=["msgpack", "json"],
            fps=25,
            config=SessionConfig().to_dict(),
            limits=Limits().to_dict(),
            resume_grace_s=30.0,
        ),
        Ack(msg_id=2, of="config", frame=8, config=SessionConfig().to_dict()),
        Ack(msg_id=None, of="control", frame=0),
        Motion(
            frame=4,
            fps=25,
            timestamps=[0.16, 0.2],
            naming="arkit",
            names=["JawOpen", "HeadYaw"],
            values=[[0.25, -1.5], [0.3, 1e-6]],
        ),
        AvatarAudio(frame=4, frames=4, t=0.16, format="s16le", rate=24000, channels=1, data=pcm),
        RenderedFrame(frame=4, t=0.16, width=2, height=1, format="rgb24", data=b"\x00\x01\x02\x03\x04\x05"),
        TurnEvent(event="interrupted", state="user_speaking", source="client", frame=12, t=0.48),
        Stats(
            t=1.0,
            frames_generated=24,
            blocks_generated=6,
            late_blocks=1,
            skipped_frames=0,
            dropped_frames=2,
            dropped_messages=0,
            avatar_audio_dropped_s=0.5,
            errors=3,
            rtf=0.4,
            block_ms=61.5,
            queues={"avatar_audio_s": 1.5, "user_audio_s": 0.0},
        ),
        Error(code="sequence_gap", message="gap", msg_id=9, fatal=False),
    ]
