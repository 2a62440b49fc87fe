"""Fixtures shared by the plugin_server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import alsa


@pytest.fixture(scope="module")
def alsa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """PortAudio devices on ALSA null/file PCMs in a temporary HOME (tests/plugin_server/alsa.py)."""
    yield from alsa.alsa_home(tmp_path_factory)
