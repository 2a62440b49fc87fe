"""Real PortAudio devices on a machine without a sound card: ALSA ``null`` and ``file`` PCMs.

The ``alsa_home`` fixture (tests/plugin_server/conftest.py) writes an ``.asoundrc`` into a
temporary HOME: ``avatar_out1`` / ``avatar_out2`` play into raw files the tests read back, and
``avatar_mic`` captures a ramp (sample n has the value n % 32768) from a file. These devices do
not run at real-time pace (they produce and consume samples as fast as asked), so tests check
samples and data flow, never wall-clock timing. Needs the PortAudio library (Debian: libportaudio2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugin_server.sinks import SinkUnavailableError
from plugin_server.sinks.audio import import_sounddevice

SR = 16000
ASOUNDRC = """
pcm.!default {{ type plug; slave.pcm "avatar_null" }}
pcm.avatar_null {{ type null }}
pcm.avatar_out1_file {{ type file; slave.pcm "null"; file "{root}/out1.raw"; format "raw" }}
pcm.avatar_out1 {{ type plug; slave {{ pcm "avatar_out1_file"; format S16_LE; rate {sr}; channels 1 }} }}
pcm.avatar_out2_file {{ type file; slave.pcm "null"; file "{root}/out2.raw"; format "raw" }}
pcm.avatar_out2 {{ type plug; slave {{ pcm "avatar_out2_file"; format S16_LE; rate {sr}; channels 1 }} }}
pcm.avatar_mic_file {{
    type file; slave.pcm "null"; file "/dev/null"; infile "{root}/ramp.raw"; format "raw"
}}
pcm.avatar_mic {{ type plug; slave {{ pcm "avatar_mic_file"; format S16_LE; rate {sr}; channels 1 }} }}
"""


def reinitialise(sd: Any) -> None:
    """Make PortAudio re-read the ALSA configuration (sounddevice's documented device re-scan)."""
    sd._terminate()
    sd._initialize()


def alsa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """(sounddevice, the temporary HOME) with the devices above; skips without PortAudio/ALSA."""
    try:
        sd = import_sounddevice()
    except SinkUnavailableError as exc:
        pytest.skip(f"PortAudio/sounddevice unavailable ({exc}); Debian: apt install libportaudio2")
    root = tmp_path_factory.mktemp("alsa_home")
    (np.arange(SR * 120) % 32768).astype("<i2").tofile(root / "ramp.raw")  # sample n has value n % 32768
    (root / ".asoundrc").write_text(ASOUNDRC.format(root=root, sr=SR))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root))
        reinitialise(sd)
        names = [d["name"] for d in sd.query_devices()]
        if "avatar_out1" not in names:
            pytest.skip(f"PortAudio has no ALSA host API here; devices: {names}")
        try:
            yield sd, root
        finally:
            mp.undo()
            reinitialise(sd)
