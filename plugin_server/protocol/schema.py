"""Strict, annotation-driven checking of decoded values against dataclass field types.

Supported annotations: `bool`, `int` (not bool, |x| <= 2**53), `float` (ints accepted, finite
only), `str`, `bytes` (base64 text in JSON frames), `None` unions, `Literal[...]`, `list[T]`,
`tuple[T, ...]`, `dict[str, T]` and `Any` (any JSON-compatible value). Every failure is a
`ProtocolError` naming the field path.

Strings (values and map keys) must be valid Unicode: JSON lets a text frame spell a lone UTF-16
surrogate (`"\\ud800"`), which Python decodes into a string that neither UTF-8 nor msgpack can
carry. Such a string would poison every reply that echoes it (a config's `avatar`, for example,
is in every `ack`), so it is refused here with `bad_value`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

from .errors import ErrorCode, ProtocolError
from .limits import Limits

MAX_SAFE_INT = 2**53


def _name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def is_valid_text(s: str) -> bool:
    """Whether `s` can go back on the wire: no lone surrogates (UTF-8 encodable)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(s: str, path: str) -> None:
    if not is_valid_text(s):
        raise ProtocolError(
            ErrorCode.BAD_VALUE, f"{path}: not valid Unicode (a lone UTF-16 surrogate such as \\ud800)"
        )


def _check_key(k: object, path: str) -> None:
    """A map key: a string of valid Unicode (checked before it becomes part of a path)."""
    if not isinstance(k, str):
        raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: map keys must be strings")
    if not is_valid_text(k):
        raise ProtocolError(
            ErrorCode.BAD_VALUE,
            f"{path}: a map key is not valid Unicode (a lone UTF-16 surrogate such as \\ud800)",
        )


def check_value(value: Any, tp: Any, path: str, limits: Limits, text: bool, depth: int = 0) -> Any:
    """Check `value` against annotation `tp`; returns it converted (list -> tuple for tuples,
    int -> float for floats, base64 str -> bytes in text frames)."""
    if depth > limits.max_depth:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: nested deeper than {limits.max_depth}")
    origin = typing.get_origin(tp)
    if tp is Any:
        return check_json(value, path, limits, depth)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: must not be null")
        rest = [a for a in args if a is not type(None)]
        errors: list[ProtocolError] = []
        for a in rest:
            try:
                return check_value(value, a, path, limits, text, depth)
            except ProtocolError as e:
                errors.append(e)
        raise errors[0]
    if origin is Literal:
        choices = typing.get_args(tp)
        if not isinstance(value, str) or value not in choices:
            raise ProtocolError(ErrorCode.BAD_VALUE, f"{path}: {value!r} is not one of {list(choices)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected a boolean, got {_name(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected an integer, got {_name(value)}")
        if abs(value) > MAX_SAFE_INT:
            raise ProtocolError(ErrorCode.BAD_VALUE, f"{path}: integer out of range (|x| <= 2**53)")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected a number, got {_name(value)}")
        if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
            raise ProtocolError(ErrorCode.BAD_VALUE, f"{path}: number out of range")
        f = float(value)
        if not math.isfinite(f):
            raise ProtocolError(ErrorCode.BAD_VALUE, f"{path}: must be finite")
        return f
    if tp is str:
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected a string, got {_name(value)}")
        if len(value) > limits.max_string_chars:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"{path}: string longer than {limits.max_string_chars} characters"
            )
        _check_text(value, path)
        return value
    if tp is bytes:
        if text:
            if not isinstance(value, str):
                raise ProtocolError(
                    ErrorCode.WRONG_TYPE, f"{path}: expected base64 text in a JSON frame, got {_name(value)}"
                )
            try:
                return base64.b64decode(value.encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise ProtocolError(ErrorCode.BAD_VALUE, f"{path}: not valid base64") from None
        if not isinstance(value, bytes):
            raise ProtocolError(
                ErrorCode.WRONG_TYPE, f"{path}: expected msgpack bin (bytes), got {_name(value)}"
            )
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected a list, got {_name(value)}")
        if len(value) > limits.max_list_items:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: more than {limits.max_list_items} items")
        (item,) = typing.get_args(tp)[:1]
        out = [check_value(v, item, f"{path}[{i}]", limits, text, depth + 1) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: expected a map, got {_name(value)}")
        if len(value) > limits.max_list_items:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: more than {limits.max_list_items} entries")
        _, item = typing.get_args(tp)
        out_d = {}
        for k, v in value.items():
            _check_key(k, path)
            out_d[k] = check_value(v, item, f"{path}.{k}", limits, text, depth + 1)
        return out_d
    raise TypeError(f"schema: unsupported annotation {tp!r} at {path}")  # a bug in a message class


def check_json(value: Any, path: str, limits: Limits, depth: int = 0) -> Any:
    """Any JSON-compatible value (null, bool, finite number, string, list, string-keyed map)."""
    if depth > limits.max_depth:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: nested deeper than {limits.max_depth}")
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            if len(value) > limits.max_string_chars:
                raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: string too long")
            _check_text(value, path)
        return value
    if isinstance(value, (int, float)):
        return check_value(value, float if isinstance(value, float) else int, path, limits, False, depth)
    if isinstance(value, (list, tuple)):
        if len(value) > limits.max_list_items:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: more than {limits.max_list_items} items")
        return [check_json(v, f"{path}[{i}]", limits, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) > limits.max_list_items:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{path}: more than {limits.max_list_items} entries")
        out = {}
        for k, v in value.items():
            _check_key(k, path)
            out[k] = check_json(v, f"{path}.{k}", limits, depth + 1)
        return out
    raise ProtocolError(ErrorCode.WRONG_TYPE, f"{path}: {_name(value)} is not a JSON value")


def build(cls: type, data: dict[str, Any], what: str, limits: Limits, text: bool) -> Any:
    """Check every field of dataclass `cls` in `data` (no unknown, no missing) and build it."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    unknown = sorted(str(k) for k in set(data) - set(names))
    if unknown:
        raise ProtocolError(ErrorCode.UNKNOWN_FIELD, f"{what}: unknown field(s) {unknown}; valid: {names}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields:
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError(ErrorCode.MISSING_FIELD, f"{what}: missing field {f.name!r}")
            continue
        kwargs[f.name] = check_value(data[f.name], hints[f.name], f"{what}.{f.name}", limits, text)
    return cls(**kwargs)
