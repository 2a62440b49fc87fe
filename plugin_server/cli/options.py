"""Command-line values shared by several commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def key_values(items: Sequence[str], flag: str) -> dict[str, Any]:
    """Parse repeated `KEY=VALUE` options; a VALUE is read as JSON where it parses (numbers,
    true/false, null, lists), else kept as a string. Raises ValueError naming `flag`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} wants KEY=VALUE; got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
