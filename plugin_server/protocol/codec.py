"""Frames <-> messages: msgpack maps on binary frames, the same schema as JSON on text frames.

In JSON, `bytes` fields (PCM, images) are standard base64 strings (RFC 4648, with padding); in
msgpack they are `bin`. Floats are IEEE doubles in msgpack and shortest round-trip decimals in JSON;
NaN and infinities are refused in both.

`decode` is strict and total: for any input it returns a `Message` or raises `ProtocolError`
(never anything else). By default it accepts client messages only (what a server reads);
`decode(..., server=True)` reads server messages (what a client or a test reads).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import msgpack

from .errors import ErrorCode, ProtocolError
from .limits import DEFAULT_LIMITS, Limits
from .messages import CLIENT_MESSAGES, SERVER_MESSAGES, Message
from .schema import build

log = logging.getLogger(__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse(frame: bytes | str, limits: Limits) -> tuple[Any, bool]:
    """Parse one frame into a Python value; returns (value, text)."""
    if isinstance(frame, str):
        if len(frame) > limits.max_message_bytes or len(frame.encode("utf-8", "surrogatepass")) > (
            limits.max_message_bytes
        ):
            raise ProtocolError(ErrorCode.TOO_LARGE, f"text frame over {limits.max_message_bytes} bytes")
        try:
            return json.loads(frame, parse_constant=_reject_constant), True
        except (ValueError, RecursionError) as e:
            raise ProtocolError(ErrorCode.MALFORMED, f"text frame is not valid JSON: {e}") from None
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if len(data) > limits.max_message_bytes:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"binary frame over {limits.max_message_bytes} bytes")
        try:
            return (
                msgpack.unpackb(
                    data,
                    raw=False,
                    strict_map_key=False,  # checked below, with a clear error
                    max_array_len=limits.max_list_items,
                    max_map_len=limits.max_list_items,
                    max_str_len=limits.max_message_bytes,
                    max_bin_len=limits.max_message_bytes,
                    max_ext_len=0,
                ),
                False,
            )
        except Exception as e:  # msgpack raises many types (ExtraData, StackError, ValueError, ...)
            raise ProtocolError(
                ErrorCode.MALFORMED, f"binary frame is not valid msgpack: {type(e).__name__}: {e}"
            ) from None
    raise ProtocolError(ErrorCode.MALFORMED, f"a frame is bytes or str, not {type(frame).__name__}")


def decode(frame: bytes | str, limits: Limits = DEFAULT_LIMITS, *, server: bool = False) -> Message:
    """One websocket frame -> one message (client messages, or server messages with server=True).

    Raises ProtocolError (with the message's `id` when it could be read) for anything else."""
    value, text = _parse(frame, limits)
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "a message is a map with a 'type' field")
    raw_id = value.get("id")
    msg_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    try:
        if not all(isinstance(k, str) for k in value):
            raise ProtocolError(ErrorCode.WRONG_TYPE, "message keys must be strings")
        kind = value.get("type")
        if kind is None:
            raise ProtocolError(ErrorCode.MISSING_FIELD, "missing field 'type'")
        if not isinstance(kind, str):
            raise ProtocolError(ErrorCode.WRONG_TYPE, "'type' must be a string")
        table = SERVER_MESSAGES if server else CLIENT_MESSAGES
        cls = table.get(kind)
        if cls is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:64]!r}; valid: {sorted(table)}"
            )
        fields = {k: v for k, v in value.items() if k != "type"}
        msg: Message = build(cls, fields, kind, limits, text)
        msg.validate(limits)
        return msg
    except ProtocolError as e:
        raise e.with_id(msg_id) from None
    except RecursionError:
        raise ProtocolError(ErrorCode.TOO_LARGE, "message nested too deeply", msg_id) from None


def _to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def encode(msg: Message, binary: bool = True) -> bytes | str:
    """One message -> one frame: msgpack bytes (binary=True) or JSON text (binary=False).

    A message holding something the wire cannot carry (NaN, an integer over 64 bits, an object)
    raises ProtocolError(bad_value)."""
    d = msg.to_dict()
    try:
        if binary:
            return msgpack.packb(d, use_bin_type=True)
        return json.dumps(_to_json(d), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (ValueError, TypeError, OverflowError) as e:
        raise ProtocolError(ErrorCode.BAD_VALUE, f"cannot encode {msg.TYPE}: {e}") from None
