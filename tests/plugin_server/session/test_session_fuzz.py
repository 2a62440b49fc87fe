"""Session.handle / handle_frame never raise, whatever arrives, and the session keeps working."""

import json

import msgpack
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.bundle import AvatarForcingModel
from plugin_server.protocol import (
    Audio,
    Config,
    Control,
    Error,
    Limits,
    Motion,
    ProtocolError,
    ServerMessage,
    Turn,
    UserMotion,
    UserVideo,
    encode,
    encode_pcm,
)
from plugin_server.session import Session

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LIMITS = Limits(max_message_bytes=64 * 1024, max_audio_chunk_s=0.5)

small = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.integers(-5, 5) | st.booleans()
config_values = st.dictionaries(
    st.sampled_from(
        [
            "naming",
            "nfe",
            "block_frames",
            "motion_intensity",
            "blink",
            "outputs",
            "seed",
            "a_cfg",
            "guidance",
            "fps",
            "model",
            "x",
        ]
    ),
    st.none()
    | small
    | st.sampled_from(["vts", "vrm", "arkit", "bad"])
    | st.just({"rate": 2.0})
    | st.just(["motion", "audio"]),
    max_size=3,
)
messages = st.one_of(
    st.builds(
        Audio,
        stream=st.sampled_from(["avatar", "user"]),
        seq=st.integers(-2, 6),
        format=st.sampled_from(["s16le", "f32le", "u8"]),
        rate=st.sampled_from([7000, 8000, 16000, 44100, 96000, 200000]),
        channels=st.integers(0, 3),
        data=st.binary(max_size=3000),
        id=st.none() | st.integers(-1, 50),
    ),
    st.builds(Config, config=config_values, id=st.none() | st.integers(0, 9)),
    st.builds(Control, action=st.sampled_from(["pause", "resume", "reset"])),
    st.builds(
        Turn, event=st.sampled_from(["user_start", "user_stop", "avatar_start", "avatar_stop", "interrupt"])
    ),
    st.builds(
        UserMotion,
        seq=st.integers(-1, 6),
        frames=st.lists(
            st.lists(small.filter(lambda v: not isinstance(v, bool)), min_size=1, max_size=3), max_size=3
        ),
        names=st.none() | st.lists(st.sampled_from(["JawOpen", "headYaw", "eyeBlink_L", "Nope"]), max_size=3),
    ),
    st.builds(
        UserVideo,
        seq=st.integers(0, 3),
        width=st.integers(0, 3),
        height=st.integers(1, 2),
        format=st.sampled_from(["rgb24", "gif"]),
        data=st.binary(max_size=20),
    ),
)
frames = (
    st.binary(max_size=300)
    | st.text(max_size=300)
    | st.builds(
        lambda d: json.dumps(d),
        st.dictionaries(
            st.sampled_from(["type", "id", "seq", "stream", "data"]),
            st.sampled_from(["audio", "turn", 3, None, "AAAA", -1]),
            max_size=5,
        ),
    )
)


def _check_outputs(out: list[ServerMessage]) -> None:
    assert isinstance(out, list)
    for m in out:
        assert isinstance(m, ServerMessage)
        assert not (isinstance(m, Error) and m.code == "internal"), m  # bad input is never a server bug
        encode(m, True)
        encode(m, False)


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), messages, frames, st.floats(0, 0.3)), min_size=1, max_size=12))
def test_handle_never_raises_and_the_session_keeps_working(model: AvatarForcingModel, script: list) -> None:
    session = Session("fuzz", model, 0.0, limits=LIMITS)
    now = 0.0
    for as_message, msg, frame, dt in script:
        now += dt
        if as_message:
            _check_outputs(session.handle(msg, now))
            try:
                raw = encode(msg, binary=dt > 0.15)  # and the same message as a frame
            except ProtocolError as e:
                assert e.code.value == "bad_value"  # NaN cannot go on the wire
            else:
                _check_outputs(session.handle_frame(raw, now))
        else:
            _check_outputs(session.handle_frame(frame, now))
        _check_outputs(session.tick(now))
    # afterwards a well-behaved client still gets motion
    session.handle(Control(action="reset"), now)
    session.handle(Control(action="resume"), now)
    session.handle(Config(config={"outputs": ["motion"], "block_frames": 4, "naming": "arkit"}), now)
    pcm = encode_pcm(np.zeros(3200), "s16le")
    assert session.handle(Audio(stream="avatar", seq=0, format="s16le", rate=16000, data=pcm), now) == []
    got = session.tick(now + 0.5)
    assert any(isinstance(m, Motion) for m in got), got


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), messages), max_size=6))
def test_oversized_and_packed_garbage(model: AvatarForcingModel, script: list) -> None:
    session = Session("fuzz2", model, 0.0, limits=Limits(max_message_bytes=512, max_audio_chunk_s=0.01))
    for binary, msg in script:
        try:
            frame = encode(msg, binary)
        except ProtocolError:
            continue
        _check_outputs(session.handle_frame(frame, 0.0))
    huge = msgpack.packb({"type": "audio", "data": b"\x00" * 4096})
    (err,) = session.handle_frame(huge, 0.0)
    assert err.code == "too_large"
