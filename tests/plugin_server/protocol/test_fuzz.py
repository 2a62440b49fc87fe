"""decode() is total: any input gives a Message or a ProtocolError, nothing else."""

import json

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin_server.protocol import MESSAGE_TYPES, Limits, Message, ProtocolError, decode, encode

from .examples import examples

LIMITS = Limits(max_message_bytes=4096, max_audio_chunk_s=0.05, max_list_items=64, max_depth=4)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
field_names = st.sampled_from(
    [
        "id",
        "version",
        "config",
        "action",
        "stream",
        "seq",
        "format",
        "rate",
        "channels",
        "data",
        "frames",
        "names",
        "width",
        "height",
        "event",
        "resume",
        "capabilities",
        "client",
        "x",
    ]
)


def _total(frame: bytes | str, server: bool = False) -> None:
    for limits in (LIMITS, Limits()):
        try:
            msg = decode(frame, limits, server=server)
        except ProtocolError as e:
            assert e.code.value and isinstance(e.message, str)
        else:
            assert isinstance(msg, Message)


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes(frame: bytes) -> None:
    _total(frame)


@SETTINGS
@given(st.text(max_size=600))
def test_random_text(frame: str) -> None:
    _total(frame)


@FEWER
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(field_names, json_values, max_size=8),
    st.booleans(),
)
def test_random_maps_of_known_types(kind: str, fields: dict, binary: bool) -> None:
    d = {"type": kind, **fields}
    if binary:
        try:
            frame: bytes | str = msgpack.packb(d, use_bin_type=True)
        except (OverflowError, ValueError):
            return
    else:
        frame = json.dumps(d, default=lambda b: b.hex())
    _total(frame, server=False)
    _total(frame, server=True)


@FEWER
@given(st.sampled_from(range(len(examples()))), field_names, json_values, st.booleans(), st.booleans())
def test_mutated_valid_messages(index: int, key: str, value, drop: bool, binary: bool) -> None:
    msg = examples()[index]
    d = msgpack.unpackb(encode(msg, True))
    if drop:
        d.pop(key, None)
    else:
        d[key] = value
    try:
        frame = msgpack.packb(d, use_bin_type=True) if binary else json.dumps(d, default=lambda b: b.hex())
    except (OverflowError, ValueError):
        return
    _total(frame, server=not msg.FROM_CLIENT)


@SETTINGS
@given(st.sampled_from(range(len(examples()))), st.integers(0, 2000), st.binary(min_size=1, max_size=3))
def test_corrupted_and_truncated_frames(index: int, pos: int, junk: bytes) -> None:
    frame = encode(examples()[index], True)
    assert isinstance(frame, bytes)
    pos = pos % len(frame)
    _total(frame[:pos])
    _total(frame[:pos] + junk + frame[pos + len(junk) :])
    text = encode(examples()[index], False)
    assert isinstance(text, str)
    _total(text[: pos % len(text)])
