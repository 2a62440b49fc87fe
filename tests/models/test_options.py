"""`models.options`: the NAME[:KEY=VALUE,...] spec parser and typed option values."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from models.options import convert_option, parse_named_spec


def test_parse_named_spec() -> None:
    assert parse_named_spec("vmc", "sink") == ("vmc", {})
    assert parse_named_spec(" portrait : image=me.jpg , head-gain=0.5 ", "renderer") == (
        "portrait",
        {"image": "me.jpg", "head_gain": "0.5"},
    )
    with pytest.raises(ValueError, match="empty renderer name"):
        parse_named_spec(":width=3", "renderer")
    with pytest.raises(ValueError, match="sink option 'port' in 'vmc:port' is not KEY=VALUE"):
        parse_named_spec("vmc:port", "sink")


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        ("12", int, 12),
        ("0.5", float, 0.5),
        ("yes", bool, True),
        ("off", bool, False),
        ("none", int | None, None),
        ("7", int | None, 7),
        ("a", Literal["a", "b"], "a"),
        ("x.png", Path, Path("x.png")),
        ("#FFAA00", str, "#FFAA00"),
    ],
)
def test_convert_option(value: str, annotation: object, expected: object) -> None:
    assert convert_option(value, annotation) == expected


@pytest.mark.parametrize(("value", "annotation"), [("x", int), ("maybe", bool), ("c", Literal["a", "b"])])
def test_convert_option_refuses(value: str, annotation: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        convert_option(value, annotation)
