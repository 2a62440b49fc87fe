import base64
import json
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest

from plugin_server.protocol import (
    CLIENT_MESSAGES,
    DEFAULT_LIMITS,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    Audio,
    Error,
    ErrorCode,
    Hello,
    Limits,
    ProtocolError,
    decode,
    decode_pcm,
    encode,
    encode_pcm,
)

from .examples import examples

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def _decode_any(frame: bytes | str, limits: Limits = DEFAULT_LIMITS):
    try:
        return decode(frame, limits)
    except ProtocolError as e:
        if e.code != ErrorCode.UNKNOWN_TYPE:
            raise
        return decode(frame, limits, server=True)


def _err(frame: bytes | str, limits: Limits = DEFAULT_LIMITS, server: bool = False) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(frame, limits, server=server)
    return info.value


def test_every_message_type_has_an_example() -> None:
    assert {m.TYPE for m in examples()} == set(MESSAGE_TYPES)
    assert set(CLIENT_MESSAGES).isdisjoint(SERVER_MESSAGES)
    assert PROTOCOL_VERSION == 1


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
def test_round_trip_every_message(binary: bool) -> None:
    for msg in examples():
        frame = encode(msg, binary)
        assert isinstance(frame, bytes if binary else str)
        back = decode(frame, server=not msg.FROM_CLIENT)
        assert back == msg, msg.TYPE
        assert encode(back, binary) == frame


def test_json_frames_carry_bytes_as_base64() -> None:
    pcm = encode_pcm(np.array([0.5, -0.5]), "s16le")
    frame = encode(Audio(stream="avatar", seq=0, format="s16le", rate=16000, data=pcm), binary=False)
    d = json.loads(frame)
    assert base64.b64decode(d["data"]) == pcm and d["type"] == "audio"
    binary = msgpack.unpackb(encode(Audio(stream="avatar", seq=0, format="s16le", rate=16000, data=pcm)))
    assert binary["data"] == pcm  # msgpack bin


def test_docs_have_a_valid_json_example_of_every_message() -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    seen = set()
    for block in blocks:
        msg = _decode_any(block)
        seen.add(msg.TYPE)
        assert msg == _decode_any(encode(msg, True))
    assert seen == set(MESSAGE_TYPES)
    for code in ErrorCode:  # every error code is documented
        assert f"`{code.value}`" in text, code


def test_structural_errors() -> None:
    assert _err(b"\xc1").code == ErrorCode.MALFORMED
    assert _err("{not json").code == ErrorCode.MALFORMED
    assert _err("[1, 2]").code == ErrorCode.MALFORMED
    assert _err("{}").code == ErrorCode.MISSING_FIELD
    assert _err('{"type": 3}').code == ErrorCode.WRONG_TYPE
    e = _err('{"type": "dance", "id": 12}')
    assert e.code == ErrorCode.UNKNOWN_TYPE and e.msg_id == 12 and "hello" in e.message
    assert _err('{"type": "welcome"}').code == ErrorCode.UNKNOWN_TYPE  # a server message from a client
    e = _err('{"type": "hello", "id": 5}')
    assert e.code == ErrorCode.MISSING_FIELD and e.msg_id == 5 and "version" in e.message
    e = _err('{"type": "hello", "version": 1, "colour": "red"}')
    assert e.code == ErrorCode.UNKNOWN_FIELD and "colour" in e.message and "capabilities" in e.message
    assert _err('{"type": "hello", "version": "1"}').code == ErrorCode.WRONG_TYPE
    assert _err('{"type": "hello", "version": true}').code == ErrorCode.WRONG_TYPE
    assert _err('{"type": "hello", "version": 1.0}').code == ErrorCode.WRONG_TYPE
    assert _err('{"type": "turn", "event": "dance"}').code == ErrorCode.BAD_VALUE
    assert _err('{"type": "config", "config": {"x": NaN}}').code == ErrorCode.MALFORMED
    assert _err('{"type": "hello", "version": 1, "id": -1}').code == ErrorCode.BAD_VALUE
    deep = '{"type": "config", "config": ' + '{"a": ' * 20 + "1" + "}" * 20 + "}"
    assert _err(deep).code == ErrorCode.TOO_LARGE
    assert _err("[" * 100_000 + "]" * 100_000).code in (ErrorCode.MALFORMED, ErrorCode.TOO_LARGE)
    assert _err(msgpack.packb({"type": "hello", 1: 2})).code == ErrorCode.WRONG_TYPE
    assert _err(msgpack.packb([{"type": "hello"}])).code == ErrorCode.MALFORMED


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "config", "id": 3, "config": {"avatar": "\\ud800"}}',
        '{"type": "config", "id": 3, "config": {"\\udfff": 1}}',
        '{"type": "config", "id": 3, "config": {"blink": {"\\ud800x": {"a": "x" }}}}',
        '{"type": "hello", "id": 3, "version": 1, "client": "a\\ud83d"}',
        '{"type": "user_motion", "id": 3, "seq": 0, "frames": [], "names": ["\\ude00"]}',
    ],
)
def test_lone_surrogates_are_refused(frame: str) -> None:
    """JSON can spell a lone UTF-16 surrogate; such a string cannot go back on the wire (UTF-8,
    msgpack), so it would poison every reply that echoes it: refused, and the error encodes."""
    e = _err(frame)
    assert e.code == ErrorCode.BAD_VALUE and e.msg_id == 3 and "Unicode" in e.message
    for binary in (True, False):
        out = encode(Error.from_exception(e), binary)
        if isinstance(out, str):
            out.encode("utf-8")
    ok = decode('{"type": "hello", "version": 1, "client": "\\ud83d\\ude00 caf\\u00e9"}')
    assert isinstance(ok, Hello) and ok.client == "\U0001f600 caf\u00e9"  # a valid pair is fine


def _audio_frame(binary: bool = True, **changes) -> bytes | str:
    d = {
        "type": "audio",
        "id": 40,
        "stream": "avatar",
        "seq": 0,
        "format": "s16le",
        "rate": 16000,
        "channels": 1,
    }
    d["data"] = encode_pcm(np.zeros(320), "s16le")
    d.update(changes)
    if binary:
        return msgpack.packb(d, use_bin_type=True)
    if isinstance(d["data"], bytes):
        d["data"] = base64.b64encode(d["data"]).decode()
    return json.dumps(d)


def test_audio_validation() -> None:
    assert isinstance(decode(_audio_frame()), Audio)
    assert isinstance(decode(_audio_frame(False)), Audio)
    assert _err(_audio_frame(format="mp3")).code == ErrorCode.UNSUPPORTED_FORMAT
    assert _err(_audio_frame(rate=7999)).code == ErrorCode.UNSUPPORTED_RATE
    assert _err(_audio_frame(rate=96001)).code == ErrorCode.UNSUPPORTED_RATE
    assert _err(_audio_frame(channels=9)).code == ErrorCode.UNSUPPORTED_FORMAT
    assert _err(_audio_frame(data=b"\x00" * 3)).code == ErrorCode.BAD_VALUE  # half a sample
    assert _err(_audio_frame(channels=2, data=b"\x00" * 6)).code == ErrorCode.BAD_VALUE  # 1.5 frames
    e = _err(_audio_frame(data=b"\x00" * (2 * 16000 * 3)))
    assert e.code == ErrorCode.CHUNK_TOO_LONG and e.msg_id == 40
    nan = np.array([0.0, np.nan], "<f4").tobytes()
    assert _err(_audio_frame(format="f32le", data=nan)).code == ErrorCode.BAD_VALUE
    assert _err(_audio_frame(False, data="@@not base64@@")).code == ErrorCode.BAD_VALUE
    assert _err(_audio_frame(data="AAAA")).code == ErrorCode.WRONG_TYPE  # text where msgpack wants bin
    assert _err(_audio_frame(seq=-1)).code == ErrorCode.BAD_VALUE
    for rate in (8000, 11025, 22050, 44100, 48000, 96000):
        assert decode(_audio_frame(rate=rate)).rate == rate


def test_size_limits() -> None:
    small = Limits(max_message_bytes=1000, max_audio_chunk_s=0.01)
    assert _err(_audio_frame(data=encode_pcm(np.zeros(600), "s16le")), small).code == ErrorCode.TOO_LARGE
    big = "x" * 2000
    assert _err(json.dumps({"type": "hello", "version": 1, "client": big}), small).code == ErrorCode.TOO_LARGE
    assert (
        _err(msgpack.packb({"type": "hello", "version": 1, "client": big}), small).code == ErrorCode.TOO_LARGE
    )
    e = _err(_audio_frame(data=encode_pcm(np.zeros(200), "s16le")), small)
    assert e.code == ErrorCode.CHUNK_TOO_LONG  # 12.5 ms > 10 ms
    long_str = Limits(max_string_chars=8)
    assert _err(json.dumps({"type": "hello", "version": 1, "client": "123456789"}), long_str).code == (
        ErrorCode.TOO_LARGE
    )
    rows = Limits(max_motion_frames=2)
    frame = json.dumps({"type": "user_motion", "seq": 0, "frames": [[0.0] * 58] * 3})
    assert _err(frame, rows).code == ErrorCode.TOO_LARGE


def test_user_motion_validation() -> None:
    ok = decode(json.dumps({"type": "user_motion", "seq": 0, "names": ["eyeBlink_L"], "frames": [[1.0]]}))
    assert ok.names == ["eyeBlink_L"]
    bad_name = json.dumps({"type": "user_motion", "seq": 0, "names": ["Smirk"], "frames": [[1.0]]})
    assert _err(bad_name).code == ErrorCode.BAD_VALUE
    twice = json.dumps({"type": "user_motion", "seq": 0, "names": ["JawOpen", "jawOpen"], "frames": [[1, 1]]})
    assert _err(twice).code == ErrorCode.BAD_VALUE
    width = json.dumps({"type": "user_motion", "seq": 0, "frames": [[0.0] * 57]})
    assert _err(width).code == ErrorCode.BAD_VALUE
    assert (
        _err(json.dumps({"type": "user_motion", "seq": 0, "frames": [["a"] * 58]})).code
        == ErrorCode.WRONG_TYPE
    )


def test_user_video_validation() -> None:
    d = {"type": "user_video", "seq": 0, "width": 2, "height": 2, "format": "rgb24"}
    assert _err(msgpack.packb({**d, "data": b"\x00" * 11})).code == ErrorCode.BAD_VALUE
    assert _err(msgpack.packb({**d, "format": "bmp", "data": b""})).code == ErrorCode.UNSUPPORTED_FORMAT
    assert _err(msgpack.packb({**d, "width": 0, "data": b""})).code == ErrorCode.BAD_VALUE


def test_server_messages_decode_only_with_server_flag() -> None:
    frame = encode(examples()[-1], binary=True)
    assert _err(frame).code == ErrorCode.UNKNOWN_TYPE
    assert decode(frame, server=True).TYPE == "error"
    assert _err(encode(Hello(version=1)), server=True).code == ErrorCode.UNKNOWN_TYPE


def test_pcm_helpers() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (100, 2)).astype(np.float32)
    back = decode_pcm(encode_pcm(x, "f32le"), "f32le", 2)
    assert back.shape == (100, 2) and np.array_equal(back, x)
    q = decode_pcm(encode_pcm(x, "s16le"), "s16le", 2)
    assert np.abs(q - x).max() <= 1 / 32768 + 1e-7
    interleaved = np.array([1, -1, 2, -2], "<i2").tobytes()
    assert decode_pcm(interleaved, "s16le", 2).tolist() == [[1 / 32768, -1 / 32768], [2 / 32768, -2 / 32768]]
    assert encode_pcm(np.array([1.5, -1.5]), "s16le") == np.array([32767, -32768], "<i2").tobytes()
    assert np.array_equal(decode_pcm(encode_pcm(q, "s16le"), "s16le", 2), q)  # exact after one rounding
