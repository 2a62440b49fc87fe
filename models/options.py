"""Named component specs from the command line: `NAME[:KEY=VALUE,...]` and typed option values.

Sinks (`--sink vmc:port=39540`) and renderers (`--renderer portrait:image=me.jpg`) are chosen the
same way; this module holds the one parser and the one string-to-type conversion they share.
Errors are ValueError; callers wrap them in their own error types.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def parse_named_spec(spec: str, what: str) -> tuple[str, dict[str, str]]:
    """``"vmc:host=192.0.2.1,port=39540"`` -> ``("vmc", {"host": "192.0.2.1", "port": "39540"})``.

    Values stay strings (see :func:`convert_option`); option keys get ``-`` -> ``_``. `what`
    ("sink", "renderer") names the kind in errors."""
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ValueError(f"empty {what} name in {spec!r}")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{what} option {part!r} in {spec!r} is not KEY=VALUE")
        options[key.strip().replace("-", "_")] = value.strip()
    return name.strip(), options


def convert_option(value: str, annotation: Any) -> Any:
    """A CLI string -> the annotated type (int, float, str, bool, Path-like, Literal, Optional /
    unions tried in order). Raises ValueError / TypeError when it does not convert."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if type(None) in args and value.lower() in {"none", "null", ""}:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert_option(value, arg)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ValueError(f"expected one of {list(choices)}")
        return value
    if annotation is bool:
        low = value.lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise ValueError("expected a boolean (true/false/1/0/yes/no/on/off)")
    if annotation in (int, float, str, Path):
        return annotation(value)
    return value
